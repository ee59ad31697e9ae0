import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  type AlgorithmList,
  Client,
  type ClientChannel,
  type ConnectConfig,
  type ServerHostKeyAlgorithm,
} from 'ssh2';
import {
  HostKeyError,
  HostUnreachableError,
  RemoteCommandError,
  SshAuthError,
  type SshTarget,
  SshTimeoutError,
  unreachableReason,
} from './errors.js';
import {
  fingerprint,
  hostKeyAlgorithms,
  type KnownHostEntry,
  knownHostsLine,
  knownKeyTypes,
  presentedKey,
  verifyHostKey,
} from './known-hosts.js';

/** How lab authenticates and what it trusts; shared by every connection of an operation. */
export interface SshCredentials {
  /** Private key (OpenSSH or PEM format), if a key file is used. */
  readonly privateKey?: Buffer;
  /** Where that key was read from (nix's own ssh, for copies, needs the file). */
  readonly keyPath?: string;
  readonly passphrase?: string;
  /** ssh-agent socket, if one is used. */
  readonly agent?: string;
  readonly knownHosts: readonly KnownHostEntry[];
  /** For messages: where known hosts were read from. */
  readonly knownHostsPath: string;
}

export interface SshTimeouts {
  /** From TCP connect to authenticated (default 10 s). */
  readonly connectMs: number;
  /** A keep-alive every this often; the connection counts as lost after three unanswered. */
  readonly keepaliveMs: number;
}

export const defaultSshTimeouts: SshTimeouts = { connectMs: 10_000, keepaliveMs: 2_000 };

export interface ExecResult {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Fails with SshTimeoutError when the command has not finished by then. */
  readonly timeoutMs?: number;
  /** Resolve with the result even for a non-zero exit (default: throw RemoteCommandError). */
  readonly allowFailure?: boolean;
  /** Written to the command's standard input, which is then closed (default: left open, unused). */
  readonly input?: string;
}

/**
 * Sessions (exec channels) open at once on one connection; more wait their turn. sshd allows 10
 * by default (MaxSessions), and it frees a closed session only once it has handled all the input
 * that arrived with the close, so a command started as another one ends may find that one still
 * counted: half of sshd's limit never meets it.
 */
const MAX_SESSIONS = 5;

/**
 * One authenticated SSH connection to one machine. Host keys are checked strictly against
 * known_hosts before anything is sent; failures become the typed errors of ./errors.ts.
 */
export class SshConnection {
  private closed = false;
  private lostReason: string | undefined;
  private sessions = 0;
  private readonly waitingForSession: (() => void)[] = [];

  private constructor(
    readonly target: SshTarget,
    private readonly client: Client,
  ) {
    client.on('error', (error) => {
      this.lostReason ??= error.message;
    });
    client.on('close', () => {
      this.closed = true;
      this.lostReason ??= 'connection closed';
    });
  }

  /** Whether the connection still works (it has not closed or errored). */
  get isOpen(): boolean {
    return !this.closed;
  }

  /** Resolves when the connection has closed, for whatever reason. */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.client.once('close', () => resolve()));
  }

  /**
   * Connects and authenticates, over `socket` if one is given (a TCP connection already accepted,
   * see ./tcp-connect.ts), else over a new one.
   */
  static connect(
    target: SshTarget,
    credentials: SshCredentials,
    timeouts: SshTimeouts = defaultSshTimeouts,
    socket?: Socket,
  ): Promise<SshConnection> {
    if (socket?.destroyed) {
      return Promise.reject(new HostUnreachableError(target, 'connection closed before the SSH handshake'));
    }
    const client = new Client();
    let keyRefusal: HostKeyError | undefined;
    const types = knownKeyTypes(credentials.knownHosts, target.host, target.port);
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.user,
      readyTimeout: timeouts.connectMs,
      ...(socket ? { sock: socket } : {}),
      keepaliveInterval: timeouts.keepaliveMs,
      keepaliveCountMax: 3,
      privateKey: credentials.privateKey,
      passphrase: credentials.passphrase,
      agent: credentials.agent,
      // Straight to the methods lab has (ssh2 would first try "none": one round trip more).
      authHandler: [
        ...(credentials.privateKey ? ['publickey' as const] : []),
        ...(credentials.agent ? ['agent' as const] : []),
      ],
      // Ask for a key type known_hosts can vouch for, as OpenSSH does.
      ...(types.length > 0 ? { algorithms: { serverHostKey: preferring(hostKeyAlgorithms(types)) } } : {}),
      hostVerifier: (blob: Buffer) => {
        const key = presentedKey(blob);
        const verdict = verifyHostKey(credentials.knownHosts, target.host, target.port, key);
        if (verdict.kind === 'trusted') return true;
        keyRefusal = new HostKeyError(
          target,
          verdict.kind,
          fingerprint(blob),
          knownHostsLine(target.host, target.port, key),
          credentials.knownHostsPath,
          'line' in verdict ? verdict.line : undefined,
        );
        return false;
      },
    };
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(guard);
        client.removeListener('close', onClose);
        outcome();
      };
      // One failure can bring several errors: a server that resets the connection before its
      // banner (a machine going down) gives 'read ECONNRESET', then 'Connection lost before
      // handshake'. This listener stays until the connection takes over (it listens for the
      // client's whole life) or, after a failure, for good: an error with no listener would be
      // uncaught and end the process, and a worker must never die of one machine's connection.
      const onError = (error: Error & { level?: string; code?: string }) =>
        settle(() => {
          client.removeListener('ready', onReady);
          client.end();
          reject(keyRefusal ?? connectError(target, error, timeouts.connectMs));
        });
      const onReady = () =>
        settle(() => {
          const connection = new SshConnection(target, client);
          client.removeListener('error', onError);
          resolve(connection);
        });
      // A server that goes away mid-handshake (a machine going down) may close without an error.
      const onClose = () =>
        settle(() =>
          reject(keyRefusal ?? new HostUnreachableError(target, 'connection closed during the handshake')),
        );
      // And whatever happens, connecting never takes much longer than its timeout.
      const guard = setTimeout(
        () =>
          settle(() => {
            client.end();
            client.destroy();
            reject(new SshTimeoutError(target, 'connecting', timeouts.connectMs));
          }),
        timeouts.connectMs + 1_000,
      );
      client.on('error', onError);
      client.once('ready', onReady);
      client.once('close', onClose);
      try {
        client.connect(config);
        // SSH writes many small packets and waits for each answer: with Nagle's algorithm each
        // waits for the peer's delayed ACK (40 ms on Linux). OpenSSH sets TCP_NODELAY too.
        client.setNoDelay(true);
      } catch (error) {
        onError(error as Error);
      }
    });
  }

  /**
   * Runs a command line (build it with ./shell.ts) and collects its output and exit status. At
   * most MAX_SESSIONS run at once on a connection; the timeout counts from this call.
   */
  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const result = await this.run(command, options.timeoutMs, options.input);
    if (!options.allowFailure && (result.exitCode !== 0 || result.signal !== null)) {
      throw new RemoteCommandError(this.target, command, result.exitCode, result.signal, result.stderr);
    }
    return result;
  }

  /**
   * Opens an exec channel and collects what it says. Every listener is attached in the callback
   * that hands over the channel, before anything else runs: ssh2 emits 'exit' as it parses the
   * packet, and a fast command's exit status often comes in the same read as the channel's
   * confirmation, so a listener attached a tick later (after an await) would miss it.
   */
  private run(
    command: string,
    timeoutMs: number | undefined,
    input: string | undefined,
  ): Promise<ExecResult> {
    if (this.closed) {
      return Promise.reject(new HostUnreachableError(this.target, this.lostReason ?? 'connection closed'));
    }
    return new Promise<ExecResult>((resolve, reject) => {
      let settled = false;
      let channel: ClientChannel | undefined;
      let stopWaiting = () => {};
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        outcome();
      };
      // The timeout covers waiting for a session and opening the channel: a half-dead server
      // may never answer that.
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(
              () =>
                settle(() => {
                  stopWaiting();
                  channel?.close();
                  reject(new SshTimeoutError(this.target, `'${command}'`, timeoutMs));
                }),
              timeoutMs,
            );
      stopWaiting = this.whenSessionFree(() => {
        let released = false;
        const release = () => {
          if (released) return;
          released = true;
          this.releaseSession();
        };
        const onChannel = (error: Error | undefined, opened: ClientChannel) => {
          if (error) {
            release();
            settle(() => reject(channelError(this, 'exec', error)));
            return;
          }
          channel = opened;
          opened.once('close', release);
          if (settled) {
            // Timed out while the channel was being opened: nobody waits for it any more. It
            // must still be read to its end, or it never emits 'close' and keeps its session.
            opened.resume();
            opened.stderr.resume();
            opened.close();
            return;
          }
          const stdout: Buffer[] = [];
          const stderr: Buffer[] = [];
          let exitCode: number | null = null;
          let signal: string | null = null;
          opened.on('data', (chunk: Buffer) => stdout.push(chunk));
          opened.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
          opened.on('exit', (code: number | null, signalName?: string) => {
            exitCode = code;
            signal = signalName ?? null;
          });
          if (input !== undefined) opened.end(input);
          opened.on('close', () =>
            settle(() => {
              if (exitCode === null && signal === null && !this.isOpen) {
                reject(new HostUnreachableError(this.target, `connection lost while running '${command}'`));
                return;
              }
              resolve({
                exitCode,
                signal,
                stdout: Buffer.concat(stdout).toString('utf8'),
                stderr: Buffer.concat(stderr).toString('utf8'),
              });
            }),
          );
        };
        try {
          this.client.exec(command, onChannel);
        } catch (error) {
          release();
          settle(() => reject(channelError(this, 'exec', error as Error)));
        }
      });
    });
  }

  /** Calls `start` as soon as a session may be opened; the function returned gives up waiting. */
  private whenSessionFree(start: () => void): () => void {
    if (this.sessions < MAX_SESSIONS) {
      this.sessions++;
      start();
      return () => {};
    }
    this.waitingForSession.push(start);
    return () => {
      const index = this.waitingForSession.indexOf(start);
      if (index >= 0) this.waitingForSession.splice(index, 1);
    };
  }

  /** A session closed: its place goes to the next command waiting, if any. */
  private releaseSession(): void {
    const next = this.waitingForSession.shift();
    if (next) next();
    else this.sessions--;
  }

  /**
   * Opens a TCP connection from the machine itself to `host:port` (direct-tcpip), so that
   * `localhost` means the machine. Rejects with the server's reason (e.g. connection refused).
   */
  forward(host: string, port: number): Promise<Duplex> {
    return this.channel(`connection to ${host}:${port}`, (callback) =>
      this.client.forwardOut('127.0.0.1', 0, host, port, callback),
    );
  }

  close(): void {
    if (!this.closed) this.client.end();
  }

  private channel(
    what: string,
    open: (callback: (error: Error | undefined, channel: ClientChannel) => void) => void,
  ): Promise<ClientChannel> {
    if (this.closed) {
      return Promise.reject(new HostUnreachableError(this.target, this.lostReason ?? 'connection closed'));
    }
    return new Promise((resolve, reject) => {
      try {
        open((error, channel) => {
          if (error) reject(channelError(this, what, error));
          else resolve(channel);
        });
      } catch (error) {
        reject(channelError(this, what, error as Error));
      }
    });
  }
}

function channelError(connection: SshConnection, what: string, error: Error): Error {
  if (!connection.isOpen || /not connected|No response/i.test(error.message)) {
    return new HostUnreachableError(connection.target, `connection lost (${what}: ${error.message})`);
  }
  return new ChannelOpenError(
    what,
    error.message.replace(/^\(SSH\) Channel open failure: /, '').toLowerCase(),
  );
}

/** The server refused to open a channel (e.g. the forwarded port refused the connection). */
export class ChannelOpenError extends Error {
  constructor(
    readonly what: string,
    readonly reason: string,
  ) {
    super(`${what} failed: ${reason}`);
    this.name = 'ChannelOpenError';
  }
}

function connectError(
  target: SshTarget,
  error: Error & { level?: string; code?: string },
  connectMs: number,
): Error {
  if (error.level === 'client-authentication') {
    return new SshAuthError(
      target,
      error.message.replace(/^All configured authentication methods failed$/, 'no key accepted'),
      { cause: error },
    );
  }
  if (error.level === 'client-timeout' || /Timed out while waiting for handshake/.test(error.message)) {
    return new SshTimeoutError(target, 'connecting', connectMs);
  }
  return new HostUnreachableError(target, unreachableReason(target, error), { cause: error });
}

const SUPPORTED_HOST_KEY_ALGORITHMS: readonly ServerHostKeyAlgorithm[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/** ssh2's defaults with these moved to the front; a key of another type is still reported, not a handshake error. */
function preferring(algorithms: readonly string[]): AlgorithmList<ServerHostKeyAlgorithm> {
  const preferred = SUPPORTED_HOST_KEY_ALGORITHMS.filter((algorithm) => algorithms.includes(algorithm));
  // ssh2 applies `remove` before `prepend` in key order: this reorders instead of skipping known entries.
  return { remove: preferred, prepend: preferred, append: [] };
}
