import type { Redis } from 'ioredis';
import { pause } from '../../util/pause.js';

/**
 * Deletes (or re-expires by ARGV[2] ms, when given) the keys whose value is still ARGV[1], their
 * owner; returns how many it touched. One script, so the check and the change are atomic.
 */
const OWNED = `
local count = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    if ARGV[2] then redis.call('PEXPIRE', key, ARGV[2]) else redis.call('DEL', key) end
    count = count + 1
  end
end
return count`;

/**
 * Owner-checked leases: Redis keys whose value names who holds them, with a ttl, so that a holder
 * that went away frees them in time. Only the owner renews or releases a lease; a lease that
 * expired and was taken by someone else is left alone. (Machine locks, which take several keys
 * at once, have their own all-or-nothing acquire; they renew and release through here.)
 */
export class Leases {
  constructor(private readonly redis: Redis) {}

  /**
   * Takes `key` for `owner` for `ttlMs` if nobody holds it. True when `owner` holds it now, whether
   * taken now or held already (a lease already held is not extended: that is `renew`).
   */
  async acquire(key: string, owner: string, ttlMs: number): Promise<boolean> {
    if (await this.redis.set(key, owner, 'PX', ttlMs, 'NX')) return true;
    return (await this.redis.get(key)) === owner;
  }

  /** Keeps the keys that still belong to `owner` for another `ttlMs`; returns how many it kept. */
  async renew(keys: readonly string[], owner: string, ttlMs: number): Promise<number> {
    if (keys.length === 0) return 0;
    return (await this.redis.eval(OWNED, keys.length, ...keys, owner, String(ttlMs))) as number;
  }

  /**
   * Leads while not stopped: waits to hold `key`, then runs `work` (which returns when it stops or
   * loses the lease), and again. A failure (Redis away for a moment) is passed to `onError` and
   * tried again a second later.
   */
  async lead(
    key: string,
    owner: string,
    ttlMs: number,
    signal: AbortSignal,
    work: () => Promise<void>,
    onError: (error: Error) => void,
  ): Promise<void> {
    while (!signal.aborted) {
      try {
        if (await this.acquire(key, owner, ttlMs)) await work();
        else await pause(ttlMs / 3, signal);
      } catch (error) {
        if (!signal.aborted) onError(error as Error);
        await pause(1_000, signal);
      }
    }
  }

  /** Frees the keys that still belong to `owner`; returns how many it freed. */
  async release(keys: readonly string[], owner: string): Promise<number> {
    if (keys.length === 0) return 0;
    return (await this.redis.eval(OWNED, keys.length, ...keys, owner)) as number;
  }
}
