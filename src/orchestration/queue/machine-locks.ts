import type { Redis } from 'ioredis';
import type { LabKeys } from './keys.js';
import { Leases } from './lease.js';

/** All or nothing: the first key held by another run is returned as [index, holder]. */
const ACQUIRE = `
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if holder and holder ~= ARGV[1] then return {i, holder} end
end
for _, key in ipairs(KEYS) do redis.call('SET', key, ARGV[1], 'PX', ARGV[2]) end
return 0`;

/**
 * A machine is in at most one active run. Locks belong to runs, not to workers: a run parked for
 * an approval holds its machines. They expire (`ttlMs` after the run's last checkpoint) and a
 * lock whose run is no longer active is taken over, so a lost run cannot hold a machine forever.
 */
export class MachineLocks {
  private readonly leases: Leases;

  constructor(
    private readonly redis: Redis,
    private readonly keys: LabKeys,
    readonly ttlMs: number,
  ) {
    this.leases = new Leases(redis);
  }

  /** Takes every machine for the run, or none: returns the first one held by another run. */
  async acquire(
    runId: string,
    machines: readonly string[],
  ): Promise<{ machine: string; heldBy: string } | null> {
    if (machines.length === 0) return null;
    const keys = machines.map((machine) => this.keys.lock(machine));
    const result = (await this.redis.eval(ACQUIRE, keys.length, ...keys, runId, String(this.ttlMs))) as
      | 0
      | [number, string];
    if (result === 0) return null;
    return { machine: machines[result[0] - 1] as string, heldBy: result[1] };
  }

  /** Frees the machines the run still holds. */
  async release(runId: string, machines: readonly string[]): Promise<void> {
    await this.leases.release(
      machines.map((machine) => this.keys.lock(machine)),
      runId,
    );
  }

  /**
   * Keeps the run's locks for another ttl (called at every checkpoint), plus `parkedMs` when the
   * run is about to park that long (a rebootDelay may be longer than the ttl).
   */
  async refresh(runId: string, machines: readonly string[], parkedMs = 0): Promise<void> {
    await this.leases.renew(
      machines.map((machine) => this.keys.lock(machine)),
      runId,
      this.ttlMs + Math.max(0, parkedMs),
    );
  }

  /** Frees one machine held by a run that is gone (only if that run still holds it). */
  async breakStale(machine: string, runId: string): Promise<void> {
    await this.releaseKey(this.keys.lock(machine), runId);
  }

  /** Deletes a key (a lock, a request claim) if it still belongs to the run. */
  async releaseKey(key: string, runId: string): Promise<void> {
    await this.leases.release([key], runId);
  }

  /** Re-expires a key (a request claim) if it still belongs to the run. */
  async refreshKey(key: string, runId: string, parkedMs = 0): Promise<void> {
    await this.leases.renew([key], runId, this.ttlMs + Math.max(0, parkedMs));
  }
}
