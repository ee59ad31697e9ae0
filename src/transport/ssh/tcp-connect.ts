import { connect, type Socket } from 'node:net';
import { HostUnreachableError, type SshTarget, SshTimeoutError, unreachableReason } from './errors.js';

/**
 * Opens a TCP connection to the machine's SSH port, nothing more: cheap enough to try every few
 * tens of milliseconds while a machine is down. Resolves with the socket once it is accepted
 * (hand it to SshConnection.connect); rejects with HostUnreachableError (refused, reset, no
 * route) or SshTimeoutError (no answer within `timeoutMs`).
 */
export function connectTcp(target: SshTarget, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // No Nagle: see SshConnection.connect.
    const socket = connect({ host: target.host, port: target.port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new SshTimeoutError(target, 'TCP connect', timeoutMs));
    }, timeoutMs);
    // Stays on the socket: an error after it was accepted (and before SSH listens) is the SSH
    // handshake's to find, never an uncaught one.
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(new HostUnreachableError(target, unreachableReason(target, error), { cause: error }));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
  });
}
