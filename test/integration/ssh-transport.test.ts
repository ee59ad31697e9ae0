import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readHostFacts } from '../../src/domain/hosts/host-facts.js';
import {
  HostKeyError,
  HostUnreachableError,
  RemoteCommandError,
  SshAuthError,
  type SshTarget,
  SshTimeoutError,
} from '../../src/transport/ssh/errors.js';
import { parseKnownHosts } from '../../src/transport/ssh/known-hosts.js';
import { SshConnection, type SshCredentials } from '../../src/transport/ssh/ssh-connection.js';
import { loadSshCredentials } from '../../src/transport/ssh/ssh-credentials.js';
import { SshPool } from '../../src/transport/ssh/ssh-pool.js';
import type { Homelab } from '../sim/homelab.js';
import { startTestHomelab } from '../support/homelabs.js';

let lab: Homelab;
let credentials: SshCredentials;
const target = (name: string): SshTarget => {
  const machine = lab.machine(name);
  return { machine: name, host: machine.address, port: machine.sshPort, user: 'root' };
};

beforeAll(async () => {
  lab = await startTestHomelab({
    web: { role: 'web', rebootOrder: 1, services: [{ type: 'http', port: 80 }] },
    db: { role: 'db', rebootOrder: 1, services: [{ type: 'tcp', port: 5432 }] },
  });
  credentials = await loadSshCredentials({}, { ...lab.env, HOME: lab.root });
});

afterAll(async () => {
  await lab?.stop();
});

describe('SshConnection against real sshd', () => {
  it('connects with the key and runs commands', async () => {
    const connection = await SshConnection.connect(target('web'), credentials);
    try {
      const result = await connection.exec('hostname; echo err >&2');
      expect(result).toEqual({ exitCode: 0, signal: null, stdout: 'web\n', stderr: 'err\n' });
    } finally {
      connection.close();
    }
  });

  it('reports a failed command with exit code and stderr, naming the machine', async () => {
    const connection = await SshConnection.connect(target('web'), credentials);
    try {
      const error = await connection.exec("echo 'no such unit' >&2; exit 3").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RemoteCommandError);
      expect((error as RemoteCommandError).remoteExitCode).toBe(3);
      expect((error as Error).message).toBe(
        "on web, 'echo 'no such unit' >&2; exit 3' exited with 3: no such unit",
      );
      await expect(connection.exec('sleep 5', { timeoutMs: 200 })).rejects.toThrow(SshTimeoutError);
    } finally {
      connection.close();
    }
  });

  it('reads host facts, and sees a kernel change as needing a reboot', async () => {
    const pool = new SshPool(credentials);
    try {
      const facts = await readHostFacts(await pool.connection(target('db')));
      expect(facts.bootId).toBe(lab.bootLog('db').at(-1)?.bootId);
      expect(facts.needsReboot).toBe(false);
      expect(facts.currentSystem).toMatch(/machines\/db\/systems\/[0-9a-z]{32}-nixos-system-db-sim$/);

      await lab.switchSystem('db', { newKernel: false });
      expect((await readHostFacts(await pool.connection(target('db')))).needsReboot).toBe(false);
      await lab.switchSystem('db', { newKernel: true });
      const changed = await readHostFacts(await pool.connection(target('db')));
      expect(changed.needsReboot).toBe(true);
      expect(changed.changed).toEqual(['kernel', 'initrd', 'kernel-modules']);
    } finally {
      await pool.closeAll();
    }
  });

  it('forwards connections from the machine itself: localhost is the machine', async () => {
    const connection = await SshConnection.connect(target('web'), credentials);
    try {
      const stream = await connection.forward('localhost', 80);
      stream.end('GET /health HTTP/1.0\r\n\r\n');
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).toString()).toContain('web ok');
      await expect(connection.forward('localhost', 5432)).rejects.toThrow(
        /connection to localhost:5432 failed/,
      );
    } finally {
      connection.close();
    }
  });

  it('refuses an unknown host key, showing the fingerprint and the line to add', async () => {
    const error = await SshConnection.connect(target('web'), {
      ...credentials,
      knownHosts: [],
      knownHostsPath: '/x/known_hosts',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostKeyError);
    const hostKey = (await readFile(`${lab.machine('web').dir}/ssh_host_ed25519_key.pub`, 'utf8')).split(' ');
    const line = `[${lab.machine('web').address}]:2222 ssh-ed25519 ${hostKey[1]}`;
    expect((error as HostKeyError).lineToAdd).toBe(line);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^host key of web \\(root@${lab.machine('web').address}:2222\\) is not in /x/known_hosts \\(offered SHA256:`,
      ),
    );
    expect((error as Error).message).toContain(`add this line: ${line}`);
  });

  it('refuses a changed host key', async () => {
    const dbKey = (await readFile(`${lab.machine('db').dir}/ssh_host_ed25519_key.pub`, 'utf8')).split(' ')[1];
    const wrong = parseKnownHosts(`[${lab.machine('web').address}]:2222 ssh-ed25519 ${dbKey}\n`);
    const error = await SshConnection.connect(target('web'), { ...credentials, knownHosts: wrong }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HostKeyError);
    expect((error as HostKeyError).verdict).toBe('changed');
    expect((error as Error).message).toContain('CHANGED');
  });

  it('reports refused authentication and an unreachable machine', async () => {
    const other = await loadSshCredentials(
      { keyPath: `${lab.machine('db').dir}/ssh_host_ed25519_key` },
      { ...lab.env, HOME: lab.root },
    );
    await expect(SshConnection.connect(target('web'), other)).rejects.toThrow(SshAuthError);
    const closed = { ...target('web'), port: 2299 };
    const error = await SshConnection.connect(closed, credentials).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostUnreachableError);
    expect((error as Error).message).toBe(
      `web (root@${lab.machine('web').address}:2299) is unreachable: connection refused (is sshd running?)`,
    );
  });

  it('gets the exit status and output of every one of many short commands run at once on one connection', async () => {
    const connection = await SshConnection.connect(target('web'), credentials);
    try {
      // Each exits at once, so that its exit status often comes in the same read as the channel's
      // confirmation; 200 at once are more sessions than sshd allows (MaxSessions 10): lab's
      // connection runs a few at a time, the others wait their turn.
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, n) =>
          connection
            .exec(`echo out ${n}; echo err ${n} >&2; exit ${n}`, { allowFailure: true })
            .then((result) => ({ n, ...result })),
        ),
      );
      const wrong = results.filter(
        (r) =>
          r.exitCode !== r.n ||
          r.signal !== null ||
          r.stdout !== `out ${r.n}\n` ||
          r.stderr !== `err ${r.n}\n`,
      );
      expect(wrong).toEqual([]);
    } finally {
      connection.close();
    }
  });

  it('frees the session of a command that timed out before its channel opened', async () => {
    const connection = await SshConnection.connect(target('db'), credentials);
    try {
      // A machine that stops answering for a moment: the channels open only after the timeouts.
      lab.machine('db').freeze(true);
      const timedOut = await Promise.all(
        Array.from({ length: 6 }, () => connection.exec('true', { timeoutMs: 300 }).catch((e: unknown) => e)),
      );
      lab.machine('db').freeze(false);
      for (const error of timedOut) expect(error).toBeInstanceOf(SshTimeoutError);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, n) => connection.exec(`echo ${n}`, { timeoutMs: 10_000 })),
      );
      expect(results.map((result) => result.stdout)).toEqual(Array.from({ length: 10 }, (_, n) => `${n}\n`));
    } finally {
      lab.machine('db').freeze(false);
      connection.close();
    }
  });

  it('notices within seconds that a machine vanished without closing anything (keep-alives)', async () => {
    const connection = await SshConnection.connect(target('db'), credentials, {
      connectMs: 5000,
      keepaliveMs: 300,
    });
    const started = Date.now();
    lab.machine('db').freeze(true);
    try {
      await connection.whenClosed();
      // Three unanswered keep-alives at 300 ms: noticed in about a second, not in minutes.
      expect(Date.now() - started).toBeLessThan(3000);
      expect(connection.isOpen).toBe(false);
      await expect(connection.exec('true')).rejects.toThrow(HostUnreachableError);
    } finally {
      lab.machine('db').freeze(false);
    }
  });
});

describe('a server that breaks off connections before the SSH handshake (a machine going down)', () => {
  const script = new URL('../support/connect-to-resetting-server.ts', import.meta.url).pathname;
  it.each(['reset', 'reset-mid-banner', 'reset-after-banner', 'close-mid-banner'])(
    '%s: every connect rejects as unreachable, and the process does not die of a second error',
    async (mode) => {
      // Its own process: an uncaught error there exits non-zero, as it would end a worker.
      const child = await execa('node', ['--import', 'tsx', script, mode, '50'], { reject: false });
      expect(child.stderr).toBe('');
      expect(child.exitCode).toBe(0);
      const outcomes = JSON.parse(child.stdout) as Record<string, number>;
      expect(Object.values(outcomes).reduce((sum, n) => sum + n, 0)).toBe(50);
      for (const outcome of Object.keys(outcomes)) {
        expect(outcome).toMatch(
          /^HostUnreachableError: gone \(root@127\.0\.0\.1:\d+\) is unreachable: connection (reset|closed) before the SSH handshake/,
        );
      }
    },
  );
});
