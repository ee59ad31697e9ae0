import type { Socket } from 'node:net';
import {
  HostKeyError,
  HostUnreachableError,
  SshAuthError,
  type SshTarget,
  SshTimeoutError,
} from '../../transport/ssh/errors.js';
import {
  defaultSshTimeouts,
  SshConnection,
  type SshCredentials,
} from '../../transport/ssh/ssh-connection.js';
import { connectTcp } from '../../transport/ssh/tcp-connect.js';

export const BOOT_ID_COMMAND = 'cat /proc/sys/kernel/random/boot_id';

/**
 * One look at a machine over a fresh connection (a TCP connect, then SSH over that socket):
 * - `up`: SSH answered with its boot id (the connection is the caller's to keep or close);
 * - `down`: evidence that nothing answers: the port refused the connection, reset or closed it
 *   before SSH got going, the host is unreachable (no route), or SSH did not finish within its
 *   full timeout (a TCP connect unanswered for the full SSH connect timeout, when given that long);
 * - `no answer`: nothing answered the TCP connect within the time given; a machine off the
 *   network looks like this, but so does one too loaded to accept for a moment (a full accept
 *   queue, a stalled event loop here): on its own this is not evidence;
 * - `unknown`: the port accepted, but SSH failed another way (a failed command) or the deadline
 *   cut it short.
 * Host key and authentication refusals are thrown: something answers, and it is not for lab.
 */
export type SshProbe =
  | { readonly kind: 'up'; readonly bootId: string; readonly connection: SshConnection }
  | { readonly kind: 'down'; readonly reason: string }
  | { readonly kind: 'no answer'; readonly reason: string }
  | { readonly kind: 'unknown'; readonly reason: string };

export async function probeSsh(
  target: SshTarget,
  credentials: SshCredentials,
  options: { readonly deadline: number; readonly tcpConnectMs: number },
): Promise<SshProbe> {
  // A timeout is evidence only if it was the full one, not one that the deadline cut short.
  const budget = (fullMs: number) => {
    const ms = Math.min(fullMs, options.deadline - Date.now());
    return { ms: Math.max(1, ms), full: ms >= fullMs };
  };
  const tcp = budget(options.tcpConnectMs);
  let socket: Socket;
  try {
    socket = await connectTcp(target, tcp.ms);
  } catch (error) {
    const reason = (error as Error).message;
    if (error instanceof SshTimeoutError) {
      return tcp.full && tcp.ms >= defaultSshTimeouts.connectMs
        ? { kind: 'down', reason }
        : { kind: 'no answer', reason };
    }
    return { kind: 'down', reason };
  }
  let ssh = budget(defaultSshTimeouts.connectMs);
  let connection: SshConnection | undefined;
  try {
    connection = await SshConnection.connect(
      target,
      credentials,
      { connectMs: ssh.ms, keepaliveMs: 1_000 },
      socket,
    );
    ssh = budget(defaultSshTimeouts.connectMs);
    const bootId = (await connection.exec(BOOT_ID_COMMAND, { timeoutMs: ssh.ms })).stdout.trim();
    return { kind: 'up', bootId, connection };
  } catch (error) {
    connection?.close();
    socket.destroy();
    if (error instanceof HostKeyError || error instanceof SshAuthError) throw error;
    const reason = (error as Error).message;
    // Reset or closed before SSH got going: what a machine going down does (and what a TCP
    // proxy in front of one does when it is down).
    if (error instanceof HostUnreachableError) return { kind: 'down', reason };
    if (error instanceof SshTimeoutError && ssh.full) return { kind: 'down', reason };
    return { kind: 'unknown', reason };
  }
}
