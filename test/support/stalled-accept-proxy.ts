import { type ChildProcess, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';

export interface StalledAcceptProxy {
  readonly port: number;
  /**
   * Stops the proxy (SIGSTOP) and fills its accept queue: from now on the kernel drops new SYNs,
   * so a TCP connect gets no answer until `resume()` (the client retransmits its SYN after 1 s,
   * 3 s, 7 s, ...), as a machine too loaded to accept connections.
   */
  stall(): Promise<void>;
  /** Lets it accept again (SIGCONT) and closes the connections that filled its queue. */
  resume(): void;
  close(): Promise<void>;
}

const PROXY = `
const net = require('node:net');
const [host, port] = [process.argv[1], Number(process.argv[2])];
const server = net.createServer((client) => {
  const upstream = net.connect({ host, port });
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => console.log(server.address().port));
`;

/**
 * A TCP proxy on 127.0.0.1 in front of a machine's sshd, in a process of its own with a listen
 * backlog of 1, so that a test can make it stop accepting connections for a while.
 */
export async function startStalledAcceptProxy(upstream: {
  host: string;
  port: number;
}): Promise<StalledAcceptProxy> {
  const child: ChildProcess = spawn(process.execPath, ['-e', PROXY, upstream.host, String(upstream.port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
  });
  let fillers: Socket[] = [];
  const tryConnect = () =>
    new Promise<Socket | null>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.on('error', () => {});
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(null);
      }, 300);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(socket);
      });
    });
  return {
    port,
    async stall() {
      child.kill('SIGSTOP');
      for (let i = 0; i < 20; i++) {
        const socket = await tryConnect();
        if (socket === null) return;
        fillers.push(socket);
      }
      throw new Error('the stalled proxy kept accepting connections');
    },
    resume() {
      child.kill('SIGCONT');
      for (const socket of fillers) socket.destroy();
      fillers = [];
    },
    async close() {
      for (const socket of fillers) socket.destroy();
      child.kill('SIGCONT');
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
