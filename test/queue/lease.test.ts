import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Leases } from '../../src/orchestration/queue/lease.js';
import { connectRedis } from '../../src/orchestration/queue/redis.js';

/** Owner-checked leases on the test run's real redis-server. */

let redis: Redis;
let leases: Leases;
const prefix = `lab:lease-test-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  redis = await connectRedis(inject('redisUrl'), 'lab-lease-test');
  leases = new Leases(redis);
});

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('Leases', () => {
  it('is taken by one owner at a time, with its ttl, and not extended by taking it again', async () => {
    const key = `${prefix}:one`;
    expect(await leases.acquire(key, 'a', 60_000)).toBe(true);
    expect(await leases.acquire(key, 'b', 60_000)).toBe(false);
    expect(await redis.get(key)).toBe('a');
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect(await leases.acquire(key, 'a', 600_000)).toBe(true);
    expect(await redis.pttl(key)).toBeLessThanOrEqual(60_000);
  });

  it('is renewed and released only by its owner', async () => {
    const key = `${prefix}:two`;
    await leases.acquire(key, 'a', 60_000);
    expect(await leases.renew([key], 'b', 600_000)).toBe(0);
    expect(await redis.pttl(key)).toBeLessThanOrEqual(60_000);
    expect(await leases.renew([key], 'a', 600_000)).toBe(1);
    expect(await redis.pttl(key)).toBeGreaterThan(60_000);
    expect(await leases.release([key], 'b')).toBe(0);
    expect(await redis.get(key)).toBe('a');
    expect(await leases.release([key], 'a')).toBe(1);
    expect(await redis.exists(key)).toBe(0);
    expect(await leases.acquire(key, 'b', 60_000)).toBe(true);
  });

  it("renews and releases, of several keys, only the owner's", async () => {
    const mine = [`${prefix}:m1`, `${prefix}:m2`];
    const theirs = `${prefix}:t1`;
    for (const key of mine) await leases.acquire(key, 'a', 60_000);
    await leases.acquire(theirs, 'b', 60_000);
    expect(await leases.renew([...mine, theirs], 'a', 600_000)).toBe(2);
    expect(await redis.pttl(theirs)).toBeLessThanOrEqual(60_000);
    expect(await leases.release([...mine, theirs], 'a')).toBe(2);
    expect(await redis.exists(...mine)).toBe(0);
    expect(await redis.get(theirs)).toBe('b');
    expect(await leases.release([], 'a')).toBe(0);
  });
});
