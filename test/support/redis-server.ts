import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { Redis } from 'ioredis';
import { unixSocketPath } from '../../src/orchestration/queue/redis.js';
import { freePort } from './free-port.js';

export interface RedisServer {
  readonly url: string;
  /** Freezes (SIGSTOP) or thaws (SIGCONT) the server: its connections stay, it answers nothing. */
  freeze(frozen: boolean): void;
  stop(): Promise<void>;
}

/**
 * A real redis-server for tests, on 127.0.0.1 and a free port (or, with `unixSocket`, on a unix
 * socket only), with no persistence and the eviction policy BullMQ needs. Tests share one and
 * keep apart by unique queue names.
 */
export async function startRedisServer(options: { unixSocket?: boolean } = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'lab-redis-'));
  const port = options.unixSocket ? 0 : await freePort();
  const socket = join(dir, 'redis.sock');
  const server: ResultPromise = execa(
    'redis-server',
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      ...(options.unixSocket ? ['--unixsocket', socket, '--unixsocketperm', '700'] : []),
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
      '--protected-mode',
      'yes',
    ],
    { stdio: 'ignore', reject: false },
  );
  const url = options.unixSocket ? `unix://${socket}` : `redis://127.0.0.1:${port}`;
  await waitForPing(url, server);
  return {
    url,
    freeze(frozen) {
      server.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
    },
    async stop() {
      server.kill('SIGCONT');
      server.kill('SIGTERM');
      await server;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPing(url: string, server: ResultPromise): Promise<void> {
  const deadline = Date.now() + 10_000;
  let exited = false;
  void server.then(() => {
    exited = true;
  });
  while (Date.now() < deadline && !exited) {
    const path = unixSocketPath(url)?.path;
    const options = { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null };
    const client = path ? new Redis({ ...options, path }) : new Redis(url, options);
    client.on('error', () => {});
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      client.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `redis-server did not start at ${url}${exited ? ' (it exited; is redis-server installed?)' : ''}`,
  );
}
