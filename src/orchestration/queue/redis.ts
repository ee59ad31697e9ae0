import { Redis } from 'ioredis';
import { RedisUnreachableError } from '../../errors.js';
import { withDeadline } from '../../util/deadline.js';

/**
 * A Redis connection for BullMQ and lab's own keys. Commands wait for a reconnect instead of
 * failing (`maxRetriesPerRequest: null`, which BullMQ workers require).
 */
export function redisConnection(url: string, name: string): Redis {
  const options = {
    maxRetriesPerRequest: null,
    connectionName: name,
    // Reconnect quickly at first, then every 2 s at most.
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 2_000),
  };
  const socket = unixSocketPath(url);
  return socket ? new Redis({ ...options, path: socket.path, db: socket.db }) : new Redis(url, options);
}

/**
 * `unix:///run/redis-lab/redis.sock` (optionally `?db=N`): Redis on a unix socket, which file
 * permissions protect (the NixOS module's default). Other URLs are for ioredis as they are.
 */
export function unixSocketPath(url: string): { path: string; db: number } | null {
  if (!url.startsWith('unix:')) return null;
  const parsed = new URL(url);
  const db = Number(parsed.searchParams.get('db') ?? 0);
  return { path: decodeURIComponent(parsed.pathname), db };
}

/**
 * Connects and checks that Redis answers within `timeoutMs`; otherwise fails with a message that
 * says where lab looked and what to do. Commands, unlike workers, should not wait forever.
 */
export async function connectRedis(url: string, name: string, timeoutMs = 5_000): Promise<Redis> {
  const redis = redisConnection(url, name);
  let lastError: Error | null = null;
  let refused: (error: Error) => void = () => {};
  const refusal = new Promise<never>((_, reject) => {
    refused = reject;
  });
  refusal.catch(() => {});
  const onError = (error: Error & { code?: string }) => {
    lastError = error;
    // Nothing listens there (or no such host): retrying for the whole timeout would not help.
    if (error.code && ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENOENT', 'EACCES'].includes(error.code))
      refused(error);
  };
  redis.on('error', onError);
  try {
    await withDeadline(Promise.race([redis.ping(), refusal]), timeoutMs, () => {
      throw new Error(`no answer within ${timeoutMs / 1000} s`);
    });
    return redis;
  } catch (error) {
    redis.disconnect();
    const reason = (lastError as Error | null)?.message ?? (error as Error).message;
    throw new RedisUnreachableError(
      `cannot reach Redis at ${redactUrl(url)}: ${reason} (start redis-server, or set REDIS_URL)`,
    );
  } finally {
    redis.off('error', onError);
  }
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(
    /\/\/([^@/]*)@/,
    (_, auth: string) => `//${auth.includes(':') ? `${auth.split(':')[0]}:***` : '***'}@`,
  );
}
