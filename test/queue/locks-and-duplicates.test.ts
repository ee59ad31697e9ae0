import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Inventory } from '../../src/domain/inventory/schema.js';
import { MachineBusyError } from '../../src/errors.js';
import type { RunControl } from '../../src/orchestration/queue/run-control.js';
import { newRunId, type RunQueue } from '../../src/orchestration/queue/run-queue.js';
import { parseRunRequest, requestFingerprint } from '../../src/orchestration/queue/run-request.js';
import type { Homelab } from '../sim/homelab.js';
import { standardMachines } from '../support/homelabs.js';
import {
  cancelActiveRuns,
  followRun,
  jobState,
  lockHolders,
  queueEnv,
  waitForEvent,
} from '../support/queue.js';
import { type QueueStack, startQueueStack } from '../support/queue-stack.js';

/**
 * A machine is in one active run at a time: a second run that would touch it is refused, naming
 * the run that holds it; the same request twice is one run; locks of runs that are gone are
 * taken over.
 */

let stack: QueueStack;
let lab: Homelab;
const env = queueEnv();
let runs: RunQueue;
let control: RunControl;

const alice = { id: 'discord:200001', name: 'alice' };
const bob = { id: 'cli:bob', name: 'bob' };

beforeAll(async () => {
  stack = await startQueueStack({
    machines: {
      nas: standardMachines.nas,
      // Parks for a minute before its reboot: a run of it holds its lock meanwhile.
      media: { role: 'media', rebootOrder: 2, orchestration: { rebootDelay: 60 } },
      // Waits longer before its reboot than a lock lives (6 h plus the longest approval wait).
      archive: { role: 'archive', rebootOrder: 3, orchestration: { rebootDelay: 30_000 } },
    },
    env,
  });
  ({ lab, runs, control } = stack);
});

afterEach(async () => {
  await stack.cancelActiveRuns();
});

afterAll(async () => {
  await stack?.stop();
});

function reboot(targets: string[], requestedBy = alice) {
  return { kind: 'reboot' as const, flake: lab.flake, targets, requestedBy, source: 'discord' as const };
}

async function parkedInDelay(runId: string): Promise<void> {
  await waitForEvent(runs, runId, 'machine.waiting', (event) => event.reason === 'delay');
  await expect.poll(() => jobState(runs, runId), { timeout: 5_000 }).toBe('delayed');
}

describe('machine locks', () => {
  it('a run touching a busy machine is refused, naming the run that holds it and who started it', async () => {
    const holder = await runs.submit(reboot(['media']));
    await parkedInDelay(holder.runId);
    expect(await lockHolders(runs, ['nas', 'media'])).toEqual({ nas: null, media: holder.runId });

    const refusal = await runs.submit(reboot(['nas', 'media'], bob)).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(MachineBusyError);
    const busy = refusal as MachineBusyError;
    expect(busy.machine).toBe('media');
    expect(busy.heldBy).toEqual({ runId: holder.runId, requestedBy: 'alice', kind: 'reboot' });
    expect(busy.message).toContain(holder.runId);
    expect(busy.message).toContain('started by alice');
    // The terminal is told what to type; Discord (publicMessage) is not given terminal commands.
    expect(busy.message).toMatch(/ \(lab status \w+; lab cancel \w+\)$/);
    expect(busy.publicMessage).toBe(`media is busy: reboot run ${holder.runId} started by alice holds it`);
    // All or nothing: the refused run holds no machine, not even the free one.
    expect(await lockHolders(runs, ['nas', 'media'])).toEqual({ nas: null, media: holder.runId });
    expect((await runs.runs()).map((record) => record.data.state.id)).toEqual([holder.runId]);

    // A health run touches nothing: it needs no lock and runs meanwhile.
    const health = await runs.submit({ ...reboot(['media'], bob), kind: 'health' });
    expect((await followRun(runs, health.runId)).at(-1)).toMatchObject({ status: 'succeeded' });

    // Once the holder is over, the machines are free again.
    const mediaBoots = lab.bootLog('media').length;
    await control.cancel(holder.runId, alice);
    expect(await waitForEvent(runs, holder.runId, 'run.finished')).toMatchObject({ status: 'cancelled' });
    await expect.poll(() => lockHolders(runs, ['nas', 'media'])).toEqual({ nas: null, media: null });
    const next = await runs.submit(reboot(['media'], bob));
    expect(next.duplicate).toBe(false);
    expect(next.runId).not.toBe(holder.runId);
    expect(await lockHolders(runs, ['nas', 'media'])).toEqual({ nas: null, media: next.runId });
    expect(lab.bootLog('media').length).toBe(mediaBoots);
  });

  it('two runs for one machine submitted at the same moment: one gets it, the other is refused', async () => {
    const inventory: Inventory = await runs.inventory(lab.flake);
    const options = { inventory: async () => inventory };
    const mediaBoots = lab.bootLog('media').length;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      // Two different requests (so not one run), each parked in media's delay once accepted.
      const results = await Promise.allSettled([
        runs.submit(reboot(['media']), options),
        runs.submit({ ...reboot(['media'], bob), rebootTimeout: 300 }, options),
      ]);
      const accepted = results.filter((result) => result.status === 'fulfilled');
      const refused = results.filter((result) => result.status === 'rejected');
      expect(accepted).toHaveLength(1);
      expect(refused[0]?.reason).toBeInstanceOf(MachineBusyError);
      const winner = (accepted[0] as PromiseFulfilledResult<{ runId: string }>).value.runId;
      expect((await lockHolders(runs, ['media'])).media).toBe(winner);
      await cancelActiveRuns(runs, control);
      await expect.poll(() => lockHolders(runs, ['nas', 'media'])).toEqual({ nas: null, media: null });
    }
    expect(lab.bootLog('media').length).toBe(mediaBoots);
  });

  it('run ids are never integers (BullMQ refuses such job ids)', () => {
    const ids = Array.from({ length: 5_000 }, () => newRunId());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{10}$/);
    expect(ids.filter((id) => /^\d+$/.test(id))).toEqual([]);
  });

  it('the same request twice is the same run, and the machine is rebooted once', async () => {
    const before = { boots: lab.bootLog('nas').length, commands: lab.rebootRequests('nas').length };
    const [first, second] = await Promise.all([
      runs.submit(reboot(['nas'])),
      runs.submit(reboot(['nas'], bob)),
    ]);
    expect(second?.runId).toBe(first?.runId);
    expect([first?.duplicate, second?.duplicate].sort()).toEqual([false, true]);
    const runId = first?.runId as string;
    const third = await runs.submit({ ...reboot(['nas'], bob), source: 'cli' });
    expect(third).toMatchObject({ runId, duplicate: true });

    const events = await followRun(runs, runId);
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    expect(lab.bootLog('nas').length).toBe(before.boots + 1);
    expect(lab.rebootRequests('nas').length).toBe(before.commands + 1);

    // Over: the machine and the request are free; the same request again is a new run.
    const claim = runs.keys.request(requestFingerprint(parseRunRequest(reboot(['nas']))));
    await expect.poll(() => runs.redis.exists(claim)).toBe(0);
    await expect.poll(() => lockHolders(runs, ['nas'])).toEqual({ nas: null });
    await expect.poll(() => jobState(runs, runId)).toBe('completed');
    const again = await runs.submit(reboot(['nas']));
    expect(again.duplicate).toBe(false);
    expect(again.runId).not.toBe(runId);
    expect((await followRun(runs, again.runId)).at(-1)).toMatchObject({ status: 'succeeded' });
    expect(lab.bootLog('nas').length).toBe(before.boots + 2);
  });

  it('a run is over once it says so: the same request right after it is a new run, its machines are free', async () => {
    // The inventory at hand (as a worker submitting a follow-up run has it): no delay in submit.
    const inventory: Inventory = await runs.inventory(lab.flake);
    const options = { inventory: async () => inventory };
    const health = { ...reboot(['nas']), kind: 'health' as const };
    for (let round = 0; round < 3; round += 1) {
      const first = await runs.submit(health, options);
      expect((await followRun(runs, first.runId)).at(-1)).toMatchObject({ status: 'succeeded' });
      const again = await runs.submit(health, options);
      expect(again).toMatchObject({ duplicate: false });
      expect(again.runId).not.toBe(first.runId);
      await followRun(runs, again.runId);
    }
    const before = lab.bootLog('nas').length;
    const first = await runs.submit(reboot(['nas']), options);
    expect((await followRun(runs, first.runId)).at(-1)).toMatchObject({ status: 'succeeded' });
    // Another request for the machine, the moment the run has finished: not busy.
    const next = await runs.submit({ ...reboot(['nas'], bob), healthTimeout: 30 }, options);
    expect(next.duplicate).toBe(false);
    expect((await followRun(runs, next.runId)).at(-1)).toMatchObject({ status: 'succeeded' });
    expect(lab.bootLog('nas').length).toBe(before + 2);
  });

  it('a lock left behind by a run that is gone is taken over', async () => {
    // A lock whose run never existed (or whose job has been cleaned up).
    await runs.redis.set(runs.keys.lock('nas'), 'ghost00001');
    const before = lab.bootLog('nas').length;
    const taken = await runs.submit(reboot(['nas']));
    expect(await lockHolders(runs, ['nas'])).toEqual({ nas: taken.runId });
    expect((await followRun(runs, taken.runId)).at(-1)).toMatchObject({ status: 'succeeded' });
    expect(lab.bootLog('nas').length).toBe(before + 1);

    // A lock still naming a run that is over (as if its release had been lost).
    await expect.poll(() => jobState(runs, taken.runId)).toBe('completed');
    await runs.redis.set(runs.keys.lock('nas'), taken.runId, 'PX', 3_600_000);
    const after = await runs.submit(reboot(['nas'], bob));
    expect(after.duplicate).toBe(false);
    expect(await lockHolders(runs, ['nas'])).toEqual({ nas: after.runId });
    expect((await followRun(runs, after.runId)).at(-1)).toMatchObject({ status: 'succeeded' });
    expect(lab.bootLog('nas').length).toBe(before + 2);

    // A run whose job was removed while it was parked: its lock and its request claim are stale.
    const lost = await runs.submit(reboot(['media']));
    await parkedInDelay(lost.runId);
    await runs.queue.remove(lost.runId);
    expect(await runs.job(lost.runId)).toBeNull();
    expect(await lockHolders(runs, ['media'])).toEqual({ media: lost.runId });
    const started = Date.now();
    const replacement = await runs.submit(reboot(['media'], bob));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(replacement.duplicate).toBe(false);
    expect(replacement.runId).not.toBe(lost.runId);
    expect(await lockHolders(runs, ['media'])).toEqual({ media: replacement.runId });
    await parkedInDelay(replacement.runId);
  });
});

// Last: the cancelled run stays among the recent runs that the tests above list.
describe('machine locks of a parked run', () => {
  it('last as long as the run is parked, even past their usual lifetime', async () => {
    const { runId } = await runs.submit(reboot(['archive']));
    await parkedInDelay(runId);
    expect(await lockHolders(runs, ['archive'])).toEqual({ archive: runId });
    const ttl = await runs.redis.pttl(runs.keys.lock('archive'));
    expect(ttl).toBeGreaterThan(30_000_000 + runs.locks.ttlMs - 60_000);
  });
});
