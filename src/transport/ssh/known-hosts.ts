import { createHash, createHmac } from 'node:crypto';

/**
 * OpenSSH known_hosts, read the way ssh reads it: plain and hashed (`|1|salt|hash`) host
 * patterns, `[host]:port` for ports other than 22, `*`/`?` wildcards, `!negation`, and
 * `@revoked` lines. (`@cert-authority` lines are ignored: lab does not use host certificates.)
 */
export interface KnownHostEntry {
  readonly marker: 'revoked' | null;
  readonly patterns: string;
  readonly keyType: string;
  readonly key: string;
  readonly line: number;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'] = null;
    if (fields[0]?.startsWith('@')) {
      const name = fields.shift();
      if (name !== '@revoked') return;
      marker = 'revoked';
    }
    const [patterns, keyType, key] = fields;
    if (!patterns || !keyType || !key) return;
    entries.push({ marker, patterns, keyType, key, line: index + 1 });
  });
  return entries;
}

/** The name ssh looks up for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Whether a comma-separated pattern list matches the host (negations win, as in ssh). */
export function matchesHost(patterns: string, host: string, port: number): boolean {
  const name = knownHostsName(host, port);
  if (patterns.startsWith('|1|')) return matchesHashed(patterns, name);
  let matched = false;
  for (const pattern of patterns.split(',')) {
    const negated = pattern.startsWith('!');
    const body = negated ? pattern.slice(1) : pattern;
    if (wildcardMatch(body.toLowerCase(), name.toLowerCase())) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function matchesHashed(entry: string, name: string): boolean {
  const [, , salt, hash] = entry.split('|');
  if (!salt || !hash) return false;
  const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return digest === hash;
}

function wildcardMatch(pattern: string, text: string): boolean {
  // Most patterns are plain names: a comparison, not a regular expression built per lookup.
  if (!pattern.includes('*') && !pattern.includes('?')) return pattern === text;
  const expression = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${expression}$`).test(text);
}

/** A host key as the server presents it: the SSH wire-format public key blob. */
export interface PresentedKey {
  readonly type: string;
  readonly blob: Buffer;
}

/** Reads the key type from an SSH public key blob (its first length-prefixed string). */
export function presentedKey(blob: Buffer): PresentedKey {
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  const type =
    length > 0 && length + 4 <= blob.length ? blob.subarray(4, 4 + length).toString('ascii') : 'unknown';
  return { type, blob };
}

/** `SHA256:...` as `ssh-keygen -l` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export type HostKeyVerdict =
  | { readonly kind: 'trusted' }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'changed'; readonly line: number }
  | { readonly kind: 'revoked'; readonly line: number };

export function verifyHostKey(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  key: PresentedKey,
): HostKeyVerdict {
  const encoded = key.blob.toString('base64');
  const relevant = entries.filter((entry) => matchesHost(entry.patterns, host, port));
  const revoked = entries.find((entry) => entry.marker === 'revoked' && entry.key === encoded);
  if (revoked) return { kind: 'revoked', line: revoked.line };
  const known = relevant.filter((entry) => entry.marker === null);
  if (known.some((entry) => entry.keyType === key.type && entry.key === encoded)) return { kind: 'trusted' };
  const changed = known.find((entry) => entry.keyType === key.type);
  if (changed) return { kind: 'changed', line: changed.line };
  return { kind: 'unknown' };
}

/** The key types known for a host, so the connection can ask the server for one of them. */
export function knownKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  return [
    ...new Set(
      entries
        .filter((entry) => entry.marker === null && matchesHost(entry.patterns, host, port))
        .map((entry) => entry.keyType),
    ),
  ];
}

/** The host key algorithms that can verify keys of these types, in ssh's preference order. */
export function hostKeyAlgorithms(keyTypes: readonly string[]): string[] {
  return keyTypes.flatMap((type) =>
    type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type],
  );
}

/** The known_hosts line that would trust this key. */
export function knownHostsLine(host: string, port: number, key: PresentedKey): string {
  return `${knownHostsName(host, port)} ${key.type} ${key.blob.toString('base64')}`;
}
