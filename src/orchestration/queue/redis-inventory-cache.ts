import type { Redis } from 'ioredis';
import type { InventoryCache } from '../../domain/inventory/inventory-cache.js';
import { type RawHosts, rawHostsSchema } from '../../domain/inventory/parse-hosts.js';
import type { LabKeys } from './keys.js';

/** Evaluations shared by every worker, keyed like the file cache (flake revision, settings). */
export class RedisInventoryCache implements InventoryCache {
  constructor(
    private readonly redis: Redis,
    private readonly keys: LabKeys,
    private readonly ttlSeconds = 30 * 24 * 3600,
  ) {}

  async get(key: string): Promise<RawHosts | undefined> {
    const text = await this.redis.get(this.keys.inventory(key));
    if (!text) return undefined;
    try {
      const parsed = rawHostsSchema.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  async set(key: string, hosts: RawHosts): Promise<void> {
    await this.redis.set(this.keys.inventory(key), JSON.stringify(hosts), 'EX', this.ttlSeconds);
  }
}
