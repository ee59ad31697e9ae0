import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RunControlError } from '../../src/errors.js';
import type { RunControl } from '../../src/orchestration/queue/run-control.js';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { Homelab } from '../sim/homelab.js';
import { tcp } from '../support/homelabs.js';
import { finishedState, followRun, jobState, lockHolders, queueEnv, waitForEvent } from '../support/queue.js';
import { type QueueStack, startQueueStack } from '../support/queue-stack.js';
import { eventsOf } from '../support/run-events.js';

/**
 * Approvals on the queue: a high machine needs one approver, a critical one two distinct ones
 * (the defaults). The run parks until then; nothing is rebooted before; approvals resume it at
 * once; a denial or an expired request cancels it with nothing touched.
 */

let stack: QueueStack;
let lab: Homelab;
// Longer than a lock's default life (6 h): the locks must outlast the approval request.
const env = queueEnv({ LAB_APPROVAL_TIMEOUT: '30000' });
let runs: RunQueue;
let control: RunControl;

const alice = { id: 'discord:100001', name: 'alice' };
const bob = { id: 'discord:100002', name: 'bob' };
const carol = { id: 'discord:100003', name: 'carol' };
const dave = { id: 'discord:100004', name: 'dave' };

beforeAll(async () => {
  stack = await startQueueStack({
    machines: {
      db: {
        role: 'postgres',
        rebootOrder: 1,
        serves: [tcp(5432)],
        orchestration: { criticalityLevel: 'high' },
      },
      vault: {
        role: 'secrets',
        rebootOrder: 2,
        dependencies: ['db'],
        orchestration: { criticalityLevel: 'critical' },
      },
      web: { role: 'web', rebootOrder: 3, orchestration: { criticalityLevel: 'medium' } },
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

/** How often each machine has booted (one boot record per boot). */
function boots(): { db: number; vault: number; web: number } {
  const count = (name: string) => lab.bootLog(name).length;
  return { db: count('db'), vault: count('vault'), web: count('web') };
}

/** How many reboot commands each machine received. */
function rebootCommands(): { db: number; vault: number; web: number } {
  const count = (name: string) => lab.rebootRequests(name).length;
  return { db: count('db'), vault: count('vault'), web: count('web') };
}

function reboot(targets: string[], requestedBy = alice) {
  return { kind: 'reboot' as const, flake: lab.flake, targets, requestedBy, source: 'discord' as const };
}

describe('approvals of queued reboots', () => {
  it('a high machine waits for one approver, a critical one for two distinct ones; approvals resume the run at once', async () => {
    const before = boots();
    const submitted = await runs.submit(reboot(['db', 'vault']));
    const { runId } = submitted;
    const { planId } = submitted.data;

    const waiting = await waitForEvent(
      runs,
      runId,
      'machine.waiting',
      (event) => event.machine === 'db' && event.reason === 'approval',
    );
    expect(waiting).toMatchObject({ reason: 'approval', required: 1, approvals: [] });
    if (waiting.reason !== 'approval') throw new Error('unreachable');
    const expiresIn = Date.parse(waiting.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(29_000_000);
    expect(expiresIn).toBeLessThanOrEqual(30_000_000);
    await expect.poll(() => jobState(runs, runId), { timeout: 5_000 }).toBe('delayed');
    // The parked run keeps its machines for as long as the request may wait for approvers.
    for (const machine of ['db', 'vault'])
      expect(await runs.redis.pttl(runs.keys.lock(machine))).toBeGreaterThan(expiresIn);

    // Refused: the requester, another plan, a machine that does not wait (yet), one not in the run.
    await expect(control.approve(runId, 'db', alice, planId)).rejects.toThrow(RunControlError);
    await expect(control.approve(runId, 'db', alice, planId)).rejects.toThrow(
      /alice started run .* may not approve/,
    );
    // The setting that allows it is named for operators (terminal, logs), not in the text for chat.
    const own = (await control.approve(runId, 'db', alice, planId).catch((e) => e)) as RunControlError;
    expect(own.message).toMatch(
      /self-approval is turned off, another approver must \(LAB_SELF_APPROVAL=1 allows it\)$/,
    );
    expect(own.publicMessage).toMatch(/self-approval is turned off, another approver must$/);
    await expect(control.approve(runId, 'db', bob, 'not-the-plan')).rejects.toThrow(/another plan/);
    await expect(control.approve(runId, 'vault', bob, planId)).rejects.toThrow(
      /vault is not waiting for approval/,
    );
    await expect(control.approve(runId, 'web', bob, planId)).rejects.toThrow(/web is not part of run/);
    expect(await control.approvals(runId, 'db')).toEqual([]);
    expect(boots()).toEqual(before);
    expect((await runs.run(runId)).data.state.status).toBe('running');

    const approvedAt = Date.now();
    const status = await control.approve(runId, 'db', bob, planId);
    expect(status).toMatchObject({ machine: 'db', required: 1, complete: true, approvals: [{ by: 'bob' }] });
    const confirmed = await waitForEvent(runs, runId, 'machine.confirmed', (event) => event.machine === 'db');
    expect(confirmed.approvals).toEqual([{ by: 'bob', at: status.approvals[0]?.at }]);
    // Resumed by the approval, not by the expiry hours later.
    expect(Date.parse(confirmed.at) - approvedAt).toBeLessThan(5_000);

    const vaultWaiting = await waitForEvent(
      runs,
      runId,
      'machine.waiting',
      (event) => event.machine === 'vault' && event.reason === 'approval',
    );
    expect(vaultWaiting).toMatchObject({ required: 2, approvals: [] });
    expect(lab.bootLog('db').length).toBe(before.db + 1);
    // db is approved and done: another approval of it is refused and not recorded.
    await expect(control.approve(runId, 'db', carol, planId)).rejects.toThrow(/db is already approved/);
    await expect(control.deny(runId, 'db', carol, planId)).rejects.toThrow(/db is already approved/);
    expect(await control.approvals(runId, 'db')).toHaveLength(1);

    const first = await control.approve(runId, 'vault', carol, planId);
    expect(first).toMatchObject({ required: 2, complete: false, approvals: [{ by: 'carol' }] });
    // The same approver twice does not count twice; neither does the requester.
    await expect(control.approve(runId, 'vault', carol, planId)).rejects.toThrow(
      /carol has already approved vault .* 2 distinct approvers/,
    );
    await expect(control.approve(runId, 'vault', alice, planId)).rejects.toThrow(/may not approve/);
    // One approval of two: the run is told, and parks again without touching vault.
    const progress = await waitForEvent(
      runs,
      runId,
      'machine.waiting',
      (event) => event.machine === 'vault' && event.reason === 'approval' && event.approvals.length === 1,
    );
    expect(progress).toMatchObject({ required: 2, approvals: [{ by: 'carol' }] });
    await expect.poll(() => jobState(runs, runId), { timeout: 5_000 }).toBe('delayed');
    expect(lab.bootLog('vault').length).toBe(before.vault);

    const secondAt = Date.now();
    const second = await control.approve(runId, 'vault', dave, planId);
    expect(second).toMatchObject({ complete: true, approvals: [{ by: 'carol' }, { by: 'dave' }] });
    const events = await followRun(runs, runId);
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    const vaultConfirmed = eventsOf(events, 'machine.confirmed').find((event) => event.machine === 'vault');
    expect(vaultConfirmed?.approvals.map((approval) => approval.by)).toEqual(['carol', 'dave']);
    expect(Date.parse(vaultConfirmed?.at ?? '') - secondAt).toBeLessThan(5_000);

    const state = await finishedState(runs, runId);
    if (state.kind !== 'reboot') throw new Error('a reboot run');
    expect(state.status).toBe('succeeded');
    expect(state.progress.db?.approval.approvals).toEqual(status.approvals);
    expect(state.progress.vault?.approval.approvals).toEqual(second.approvals);
    for (const approval of [...status.approvals, ...second.approvals])
      expect(Date.parse(approval.at)).toBeGreaterThanOrEqual(approvedAt);
    expect(boots()).toEqual({ ...before, db: before.db + 1, vault: before.vault + 1 });
    // Rebooted in order: vault went down after db was back.
    expect(lab.bootLog('vault').at(-2)?.downAt).toBeGreaterThan(lab.bootLog('db').at(-1)?.upAt ?? 0);
    await expect.poll(() => lockHolders(runs, ['db', 'vault'])).toEqual({ db: null, vault: null });
    await expect(control.approve(runId, 'vault', bob, planId)).rejects.toThrow(/already succeeded/);
  });

  it('the requester may approve their own run with LAB_SELF_APPROVAL=1', async () => {
    const self = await stack.client({ ...env, LAB_SELF_APPROVAL: '1' });
    const before = boots();
    const { runId, data } = await self.runs.submit(reboot(['db']));
    await waitForEvent(self.runs, runId, 'machine.waiting', (event) => event.reason === 'approval');
    const status = await self.control.approve(runId, 'db', alice, data.planId);
    expect(status).toMatchObject({ complete: true, approvals: [{ by: 'alice' }] });
    const events = await followRun(self.runs, runId);
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    expect(eventsOf(events, 'machine.confirmed')[0]?.approvals).toEqual(status.approvals);
    expect(boots()).toEqual({ ...before, db: before.db + 1 });
  });

  it('two approvers at once for a machine that needs one: one approval counts, the other is refused', async () => {
    const before = boots();
    const { runId, data } = await runs.submit(reboot(['db']));
    await waitForEvent(runs, runId, 'machine.waiting', (event) => event.reason === 'approval');
    const results = await Promise.allSettled([
      control.approve(runId, 'db', bob, data.planId),
      control.approve(runId, 'db', carol, data.planId),
    ]);
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((result) => result.status === 'rejected');
    expect(refused?.reason).toBeInstanceOf(RunControlError);
    expect(String(refused?.reason)).toMatch(/db is already approved/);
    const events = await followRun(runs, runId);
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    expect(eventsOf(events, 'machine.confirmed')[0]?.approvals).toHaveLength(1);
    expect(await control.approvals(runId, 'db')).toHaveLength(1);
    expect(boots()).toEqual({ ...before, db: before.db + 1 });
  });

  it('a denial cancels the run with nothing rebooted, naming who denied', async () => {
    const before = { boots: boots(), commands: rebootCommands() };
    const { runId, data } = await runs.submit(reboot(['db', 'vault']));
    await waitForEvent(runs, runId, 'machine.waiting', (event) => event.reason === 'approval');
    const deniedAt = Date.now();
    await control.deny(runId, 'db', bob, data.planId);
    const finished = await waitForEvent(runs, runId, 'run.finished');
    expect(finished).toMatchObject({ status: 'cancelled', pending: ['db', 'vault'] });
    expect(finished.reason).toMatch(/db was denied by bob/);
    expect(Date.parse(finished.at) - deniedAt).toBeLessThan(5_000);
    expect(await finishedState(runs, runId)).toMatchObject({
      status: 'cancelled',
      cancelReason: expect.stringMatching(/db was denied by bob/),
    });
    expect(boots()).toEqual(before.boots);
    expect(rebootCommands()).toEqual(before.commands);
    await expect.poll(() => lockHolders(runs, ['db', 'vault'])).toEqual({ db: null, vault: null });
    await expect(control.approve(runId, 'db', carol, data.planId)).rejects.toThrow(/already cancelled/);
  });

  it('an approval request that expires (LAB_APPROVAL_TIMEOUT=2) cancels the run with nothing touched', async () => {
    const hurried = await stack.client({ ...env, LAB_APPROVAL_TIMEOUT: '2' });
    const before = { boots: boots(), commands: rebootCommands() };
    const { runId, data } = await hurried.runs.submit(reboot(['db']));
    const waiting = await waitForEvent(
      hurried.runs,
      runId,
      'machine.waiting',
      (e) => e.reason === 'approval',
    );
    if (waiting.reason !== 'approval') throw new Error('unreachable');
    const finished = await waitForEvent(hurried.runs, runId, 'run.finished', () => true, 15_000);
    expect(finished).toMatchObject({ status: 'cancelled', pending: ['db'] });
    expect(finished.reason).toMatch(/approval of db expired: 0 of 1/);
    // Cancelled at the expiry, not long after it.
    expect(Date.parse(finished.at)).toBeGreaterThanOrEqual(Date.parse(waiting.expiresAt));
    expect(Date.parse(finished.at) - Date.parse(waiting.expiresAt)).toBeLessThan(3_000);
    expect(boots()).toEqual(before.boots);
    expect(rebootCommands()).toEqual(before.commands);
    await expect.poll(() => lockHolders(hurried.runs, ['db'])).toEqual({ db: null });
    await expect(hurried.control.approve(runId, 'db', bob, data.planId)).rejects.toThrow(RunControlError);
  });
});
