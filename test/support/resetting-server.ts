import { createServer, type Server, type Socket } from 'node:net';

/**
 * How a server that is not (or no longer) sshd treats each connection it accepts, as a machine
 * going down does: its kernel resets connections whose sshd was killed, mid-banner or before.
 */
export type ResetMode =
  /** RST as soon as the connection is accepted, before any byte. */
  | 'reset'
  /** Half of sshd's banner line, then RST. */
  | 'reset-mid-banner'
  /** The whole banner line, then RST (before the key exchange). */
  | 'reset-after-banner'
  /** Half of the banner line, then an orderly close (FIN). */
  | 'close-mid-banner';

export interface ResettingServer {
  readonly port: number;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1 (a random port) that breaks off every connection as `mode` says. */
export async function startResettingServer(mode: ResetMode): Promise<ResettingServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // The client's own reset or close races with ours: nothing to report.
    socket.on('error', () => {});
    if (mode === 'reset') {
      socket.resetAndDestroy();
      return;
    }
    const banner = mode === 'reset-after-banner' ? 'SSH-2.0-OpenSSH_9.2\r\n' : 'SSH-2.0-Open';
    socket.write(banner, () => {
      if (mode === 'close-mid-banner') socket.end();
      // After the bytes have left, so that the client reads them before the reset.
      else setTimeout(() => socket.resetAndDestroy(), 5);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
