import { createHmac, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  fingerprint,
  hostKeyAlgorithms,
  knownHostsLine,
  knownKeyTypes,
  matchesHost,
  parseKnownHosts,
  presentedKey,
  verifyHostKey,
} from '../../src/transport/ssh/known-hosts.js';

/** An ssh-ed25519 public key blob as a server presents it. */
function ed25519Blob(): Buffer {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const type = Buffer.from('ssh-ed25519');
  const length = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  return Buffer.concat([length(type.length), type, length(raw.length), raw]);
}

const hashed = (name: string, salt = Buffer.from('0123456789abcdefghij')) =>
  `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;

describe('known_hosts matching', () => {
  it('matches plain names, [host]:port for other ports, wildcards and negation', () => {
    expect(matchesHost('web,10.0.0.5', 'web', 22)).toBe(true);
    expect(matchesHost('web', 'web', 2222)).toBe(false);
    expect(matchesHost('[web]:2222', 'web', 2222)).toBe(true);
    expect(matchesHost('[web]:2222', 'web', 22)).toBe(false);
    expect(matchesHost('*.lab.example', 'db.lab.example', 22)).toBe(true);
    expect(matchesHost('*.lab.example,!secret.lab.example', 'secret.lab.example', 22)).toBe(false);
    expect(matchesHost('WEB', 'web', 22)).toBe(true);
    expect(matchesHost('w?b', 'web', 22)).toBe(true);
    expect(matchesHost('web.', 'webx', 22)).toBe(false);
  });

  it('matches hashed entries, including [host]:port', () => {
    expect(matchesHost(hashed('web'), 'web', 22)).toBe(true);
    expect(matchesHost(hashed('[127.0.10.2]:2222'), '127.0.10.2', 2222)).toBe(true);
    expect(matchesHost(hashed('web'), 'db', 22)).toBe(false);
  });
});

describe('verifyHostKey', () => {
  const key = presentedKey(ed25519Blob());
  const other = presentedKey(ed25519Blob());
  const b64 = key.blob.toString('base64');

  it('reads the key type from the blob', () => {
    expect(key.type).toBe('ssh-ed25519');
  });

  it('trusts a matching key, plain or hashed', () => {
    expect(verifyHostKey(parseKnownHosts(`web ssh-ed25519 ${b64}\n`), 'web', 22, key)).toEqual({
      kind: 'trusted',
    });
    expect(verifyHostKey(parseKnownHosts(`${hashed('web')} ssh-ed25519 ${b64} c\n`), 'web', 22, key)).toEqual(
      {
        kind: 'trusted',
      },
    );
  });

  it('reports an unknown host, a changed key with its line, and a revoked key', () => {
    const entries = parseKnownHosts(
      `# comment\n\nweb ssh-ed25519 ${b64}\n@revoked * ssh-ed25519 ${other.blob.toString('base64')}\n`,
    );
    expect(verifyHostKey(entries, 'db', 22, key)).toEqual({ kind: 'unknown' });
    expect(verifyHostKey(parseKnownHosts(`web ssh-ed25519 ${b64}\n`), 'web', 22, other)).toEqual({
      kind: 'changed',
      line: 1,
    });
    expect(verifyHostKey(entries, 'web', 22, other)).toEqual({ kind: 'revoked', line: 4 });
  });

  it('treats a key of a type not listed for the host as unknown, not changed', () => {
    const entries = parseKnownHosts('web ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ\n');
    expect(verifyHostKey(entries, 'web', 22, key)).toEqual({ kind: 'unknown' });
    expect(knownKeyTypes(entries, 'web', 22)).toEqual(['ssh-rsa']);
    expect(hostKeyAlgorithms(['ssh-rsa', 'ssh-ed25519'])).toEqual([
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ssh-ed25519',
    ]);
  });

  it('ignores @cert-authority lines and malformed lines', () => {
    expect(parseKnownHosts(`@cert-authority *.lab ssh-ed25519 ${b64}\nbroken-line\n`)).toEqual([]);
  });

  it('formats the fingerprint like ssh-keygen and the line to add', () => {
    expect(fingerprint(key.blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(knownHostsLine('127.0.10.2', 2222, key)).toBe(`[127.0.10.2]:2222 ssh-ed25519 ${b64}`);
    expect(knownHostsLine('web', 22, key)).toBe(`web ssh-ed25519 ${b64}`);
  });
});
