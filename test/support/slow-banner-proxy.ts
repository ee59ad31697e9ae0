import { connect, createServer, type Socket } from 'node:net';

export interface SlowBannerProxy {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 (a random port) in front of a machine's sshd that holds back what
 * sshd says (its banner first) until `delayMs` after each connection was accepted: a machine
 * that answers, slowly. When sshd refuses, resets or closes (the machine is down), the proxy
 * resets or closes the client's connection the same way.
 */
export async function startSlowBannerProxy(
  upstream: { host: string; port: number },
  delayMs: number,
): Promise<SlowBannerProxy> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const server = connect(upstream);
    sockets.add(client).add(server);
    const held: Buffer[] = [];
    let holding = true;
    const release = setTimeout(() => {
      holding = false;
      for (const chunk of held.splice(0)) client.write(chunk);
    }, delayMs);
    server.on('data', (chunk: Buffer) => (holding ? held.push(chunk) : client.write(chunk)));
    client.on('data', (chunk: Buffer) => server.write(chunk));
    server.on('error', () => client.resetAndDestroy());
    server.on('close', () => {
      clearTimeout(release);
      sockets.delete(server);
      client.destroy();
    });
    client.on('error', () => server.destroy());
    client.on('close', () => {
      clearTimeout(release);
      sockets.delete(client);
      server.destroy();
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
