import { LabError } from '../../errors.js';

/** Where a connection goes, for messages: `web (root@10.0.0.5:22)`. */
export interface SshTarget {
  /** The machine's name in the flake. */
  readonly machine: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
}

export const describeTarget = (target: SshTarget): string =>
  `${target.machine} (${target.user}@${target.host}:${target.port})`;

/** Base of every SSH failure: it always names the machine. */
export abstract class SshError extends LabError {
  constructor(
    readonly target: SshTarget,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Nothing answered, the connection was refused, or it dropped. */
export class HostUnreachableError extends SshError {
  constructor(target: SshTarget, reason: string, options?: ErrorOptions) {
    super(target, `${describeTarget(target)} is unreachable: ${reason}`, options);
  }
}

/** Why a connection failed before SSH got going, in words: refused, reset, no route, ... */
export function unreachableReason(target: SshTarget, error: Error & { code?: string }): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is sshd running?)';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection reset before the SSH handshake finished (is the machine going down?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve host name ${target.host}`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to host';
  }
  if (/^Connection lost before handshake$/.test(error.message))
    return 'connection closed before the SSH handshake (is the machine going down?)';
  return error.message;
}

/** The server refused every key lab offered. */
export class SshAuthError extends SshError {
  constructor(target: SshTarget, methods: string, options?: ErrorOptions) {
    super(
      target,
      `${describeTarget(target)} refused authentication as ${target.user} (${methods}): ` +
        `check lab.machine.ssh.user and that the key (--ssh-key / LAB_SSH_KEY, or ssh-agent) is authorized`,
      options,
    );
  }
}

/** The host key is not in known_hosts, differs from it, or is revoked. Nothing was sent. */
export class HostKeyError extends SshError {
  constructor(
    target: SshTarget,
    readonly verdict: 'unknown' | 'changed' | 'revoked',
    readonly fingerprint: string,
    readonly lineToAdd: string,
    knownHostsPath: string,
    line?: number,
  ) {
    const where = line === undefined ? knownHostsPath : `${knownHostsPath}:${line}`;
    const messages = {
      unknown: `host key of ${describeTarget(target)} is not in ${knownHostsPath} (offered ${fingerprint}); if that is the machine's key, add this line: ${lineToAdd}`,
      changed: `host key of ${describeTarget(target)} CHANGED: it offered ${fingerprint}, which differs from ${where}. Someone may be intercepting the connection, or the machine was reinstalled; if so, replace that entry with: ${lineToAdd}`,
      revoked: `host key of ${describeTarget(target)} is revoked in ${where} (offered ${fingerprint}): refusing to connect`,
    };
    super(target, messages[verdict]);
  }
}

/** A remote command ended with a non-zero exit code or a signal. */
export class RemoteCommandError extends SshError {
  constructor(
    target: SshTarget,
    readonly command: string,
    readonly remoteExitCode: number | null,
    readonly signal: string | null,
    readonly stderr: string,
  ) {
    const how = signal
      ? `was killed by ${signal}`
      : remoteExitCode === null
        ? 'ended without an exit status'
        : `exited with ${remoteExitCode}`;
    const tail = stderrTail(stderr);
    super(target, `on ${target.machine}, '${command}' ${how}${tail ? `: ${tail}` : ''}`);
  }
}

/** Connecting or a command took longer than its timeout. */
export class SshTimeoutError extends SshError {
  constructor(target: SshTarget, what: string, timeoutMs: number) {
    super(target, `${what} on ${describeTarget(target)} timed out after ${formatMs(timeoutMs)}`);
  }
}

/** `exit code 3: no such unit` or `killed by TERM`: how a remote command ended, for messages. */
export function describeExit(result: {
  exitCode: number | null;
  signal: string | null;
  stderr: string;
}): string {
  const how = result.signal
    ? `killed by ${result.signal}`
    : result.exitCode === null
      ? 'no exit status'
      : `exit code ${result.exitCode}`;
  const tail = stderrTail(result.stderr);
  return tail ? `${how}: ${tail}` : how;
}

/** The last non-empty lines of stderr, at most 300 characters, on one line. */
export function stderrTail(stderr: string): string {
  const lines = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
  return lines.length > 300 ? `…${lines.slice(-299)}` : lines;
}

const formatMs = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);
