import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunControl } from '../../src/orchestration/queue/run-control.js';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { LabWorker } from '../../src/orchestration/queue/run-worker.js';
import type { Homelab } from '../sim/homelab.js';
import { countingNix } from '../support/flake-fixtures.js';
import { standardMachines, tcp } from '../support/homelabs.js';
import {
  finishedState,
  followRun,
  jobState,
  lockHolders,
  queueClient,
  queueEnv,
  startWorker,
  waitForEvent,
} from '../support/queue.js';
import { type QueueStack, startQueueStack } from '../support/queue-stack.js';
import { runLab } from '../support/run-cli.js';
import { eventsOf } from '../support/run-events.js';

/**
 * Cancelling queued runs (parked or running), health runs on the queue, and the inventory that
 * workers evaluate once per flake revision for every request.
 */

let stack: QueueStack;
let lab: Homelab;
let worker: LabWorker;
let nix: Awaited<ReturnType<typeof countingNix>>;
const env = queueEnv();
let runs: RunQueue;
let control: RunControl;

const alice = { id: 'discord:400001', name: 'alice' };
const bob = { id: 'discord:400002', name: 'bob' };
const machines = ['nas', 'media', 'sick', 'app', 'vault'] as const;

beforeAll(async () => {
  nix = await countingNix();
  stack = await startQueueStack({
    machines: {
      nas: standardMachines.nas,
      // Parks half a minute before its reboot.
      media: { role: 'media', rebootOrder: 2, orchestration: { rebootDelay: 30 } },
      // Its service does not answer: unhealthy.
      sick: { role: 'queue', rebootOrder: 2, serves: [tcp(5672)], faults: ['health-fails'] },
      // Its service comes up late after a boot (set per test): health waits for it.
      app: { role: 'app', rebootOrder: 1, serves: [tcp(8080)] },
      // Takes long to boot (set per test): a cancel can come while it is down.
      vault: { role: 'vault', rebootOrder: 1, serves: [tcp(8200)] },
    },
    env,
    nix: { bin: nix.bin, options: { substituters: '' } },
  });
  ({ lab, worker, runs, control } = stack);
});

afterEach(async () => {
  await stack.cancelActiveRuns();
});

afterAll(async () => {
  await stack?.stop();
});

function reboot(targets: string[], options: { healthTimeout?: number } = {}) {
  return {
    kind: 'reboot' as const,
    flake: lab.flake,
    targets,
    ...options,
    requestedBy: alice,
    source: 'discord' as const,
  };
}

type PerMachine = Record<(typeof machines)[number], number>;

/** How often each machine has booted (one boot record per boot). */
function boots(): PerMachine {
  return Object.fromEntries(machines.map((name) => [name, lab.bootLog(name).length])) as PerMachine;
}

/** How many reboot commands each machine received. */
function rebootCommands(): PerMachine {
  return Object.fromEntries(machines.map((name) => [name, lab.rebootRequests(name).length])) as PerMachine;
}

describe('cancel', () => {
  it('a run parked in a rebootDelay is cancelled at once, its machine untouched and free again', async () => {
    const before = { boots: boots(), commands: rebootCommands() };
    const { runId } = await runs.submit(reboot(['media']));
    await waitForEvent(runs, runId, 'machine.waiting', (event) => event.reason === 'delay');
    await expect.poll(() => jobState(runs, runId), { timeout: 5_000 }).toBe('delayed');
    expect(await lockHolders(runs, ['media'])).toEqual({ media: runId });

    const cancelledAt = Date.now();
    await control.cancel(runId, bob);
    const finished = await waitForEvent(runs, runId, 'run.finished');
    expect(finished).toMatchObject({ status: 'cancelled', reason: 'cancelled by bob', pending: ['media'] });
    // At once, not when the 30 s delay is over.
    expect(Date.parse(finished.at) - cancelledAt).toBeLessThan(3_000);
    expect(await finishedState(runs, runId)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'cancelled by bob',
    });
    expect(boots()).toEqual(before.boots);
    expect(rebootCommands()).toEqual(before.commands);
    await expect.poll(() => lockHolders(runs, ['media'])).toEqual({ media: null });
    await expect.poll(() => jobState(runs, runId)).toBe('completed');
    await expect(control.cancel(runId, bob)).rejects.toThrow(/already cancelled/);
  });

  it("a run cancelled while a rebooted machine's health is awaited sees it healthy, and touches nothing after it", async () => {
    lab.machine('app').setDelays({ servicesMs: 4_000 });
    try {
      const before = { boots: boots(), commands: rebootCommands() };
      const { runId } = await runs.submit(reboot(['app', 'media'], { healthTimeout: 60 }));
      // app is back and its health is being waited for, in the worker (the job is active).
      await waitForEvent(runs, runId, 'machine.health', (event) => event.machine === 'app' && !event.ok);
      expect(await jobState(runs, runId)).toBe('active');
      expect(worker.processor.activeRuns).toBe(1);

      await control.cancel(runId, bob);
      const events = await followRun(runs, runId);
      expect(eventsOf(events, 'run.cancelling')).toEqual([
        expect.objectContaining({ reason: 'cancelled by bob', finishing: ['app'] }),
      ]);
      // app rebooted: it is never "not touched"; its health is seen to the end.
      expect(events.at(-1)).toMatchObject({
        type: 'run.finished',
        status: 'cancelled',
        reason: 'cancelled by bob',
        failure: null,
        pending: ['media'],
        outcomes: [
          { machine: 'app', outcome: 'rebooted' },
          { machine: 'media', outcome: 'not touched' },
        ],
      });
      expect(eventsOf(events, 'machine.succeeded').map((event) => event.machine)).toEqual(['app']);
      expect(eventsOf(events, 'machine.failed')).toEqual([]);
      expect(events.filter((event) => 'machine' in event && event.machine === 'media')).toEqual([]);
      const state = await finishedState(runs, runId);
      if (state.kind !== 'reboot') throw new Error('a reboot run');
      expect(state.progress.app).toMatchObject({ phase: 'succeeded', error: null });
      expect(state.progress.app?.bootIdAfter).toBe(lab.bootLog('app').at(-1)?.bootId);
      expect(state.progress.media).toMatchObject({ phase: 'pending' });
      // app rebooted once, media not at all.
      expect(boots()).toEqual({ ...before.boots, app: before.boots.app + 1 });
      expect(rebootCommands()).toEqual({ ...before.commands, app: before.commands.app + 1 });
      await expect.poll(() => worker.processor.activeRuns).toBe(0);
      await expect.poll(() => lockHolders(runs, ['app', 'media'])).toEqual({ app: null, media: null });
      await expect.poll(() => jobState(runs, runId)).toBe('completed');
    } finally {
      lab.machine('app').setDelays({ servicesMs: 0 });
    }
  });

  it('a machine down after its reboot command is waited for and checked healthy, then the run ends as cancelled', async () => {
    lab.machine('vault').setDelays({ bootMs: 3_000 });
    try {
      const before = { boots: boots(), commands: rebootCommands() };
      const { runId } = await runs.submit(reboot(['vault', 'media'], { healthTimeout: 30 }));
      await waitForEvent(runs, runId, 'machine.down', (event) => event.machine === 'vault');
      await expect.poll(() => lab.machine('vault').isUp, { timeout: 5_000 }).toBe(false);
      const cancelledAt = Date.now();
      await control.cancel(runId, bob);
      const events = await followRun(runs, runId);
      const finished = events.at(-1);
      expect(finished).toMatchObject({
        type: 'run.finished',
        status: 'cancelled',
        reason: 'cancelled by bob',
        failure: null,
        pending: ['media'],
        outcomes: [
          { machine: 'vault', outcome: 'rebooted' },
          { machine: 'media', outcome: 'not touched' },
        ],
      });
      // What lab says is what the machine shows: a new boot, up after the cancel, healthy.
      const boot = lab.bootLog('vault').at(-1);
      expect(boots()).toEqual({ ...before.boots, vault: before.boots.vault + 1 });
      expect(boot?.upAt).toBeGreaterThan(cancelledAt);
      expect(eventsOf(events, 'machine.up')).toEqual([
        expect.objectContaining({ machine: 'vault', bootId: boot?.bootId }),
      ]);
      expect(eventsOf(events, 'machine.health').at(-1)).toMatchObject({ machine: 'vault', ok: true });
      expect(Date.parse(finished?.at ?? '')).toBeGreaterThanOrEqual(boot?.upAt ?? Infinity);
      const state = await finishedState(runs, runId);
      if (state.kind !== 'reboot') throw new Error('a reboot run');
      expect(state.progress.vault).toMatchObject({ phase: 'succeeded', bootIdAfter: boot?.bootId });
      expect(rebootCommands()).toEqual({ ...before.commands, vault: before.commands.vault + 1 });
      await expect.poll(() => lockHolders(runs, ['vault', 'media'])).toEqual({ vault: null, media: null });
    } finally {
      lab.machine('vault').setDelays({ bootMs: 0 });
    }
  });

  it('a run parked while its machine comes back, then cancelled, still waits for the machine and checks it', async () => {
    // Workers of their own that park a run after a second of waiting for a machine.
    const parking = queueEnv({ LAB_ACTIVE_WAIT: '1', LAB_PARK_POLL: '1' });
    const other = await queueClient(parking);
    const parker = await startWorker(lab, parking, 'parking-worker');
    lab.machine('vault').setDelays({ bootMs: 4_000 });
    try {
      const before = { boots: boots(), commands: rebootCommands() };
      const { runId } = await other.runs.submit(reboot(['vault', 'media'], { healthTimeout: 30 }));
      await waitForEvent(other.runs, runId, 'machine.rebooting', (event) => event.machine === 'vault');
      await expect.poll(() => lab.machine('vault').isUp, { timeout: 10_000 }).toBe(false);
      await expect.poll(() => jobState(other.runs, runId), { timeout: 10_000 }).toBe('delayed');
      const cancelledAt = Date.now();
      await other.control.cancel(runId, bob);
      const events = await followRun(other.runs, runId);
      expect(events.at(-1)).toMatchObject({
        type: 'run.finished',
        status: 'cancelled',
        reason: 'cancelled by bob',
        pending: ['media'],
        outcomes: [
          { machine: 'vault', outcome: 'rebooted' },
          { machine: 'media', outcome: 'not touched' },
        ],
      });
      const boot = lab.bootLog('vault').at(-1);
      expect(boot?.upAt).toBeGreaterThan(cancelledAt);
      const state = await finishedState(other.runs, runId);
      if (state.kind !== 'reboot') throw new Error('a reboot run');
      expect(state.progress.vault).toMatchObject({ phase: 'succeeded', bootIdAfter: boot?.bootId });
      expect(boots()).toEqual({ ...before.boots, vault: before.boots.vault + 1 });
      expect(rebootCommands()).toEqual({ ...before.commands, vault: before.commands.vault + 1 });
      // lab status says the same.
      const status = await runLab(['status', runId, '--json'], parking);
      expect(JSON.parse(status.stdout)).toMatchObject({
        status: 'cancelled',
        cancelReason: 'cancelled by bob',
        machines: [
          { name: 'vault', phase: 'succeeded' },
          { name: 'media', phase: 'pending' },
        ],
      });
    } finally {
      lab.machine('vault').setDelays({ bootMs: 0 });
      await parker.stop();
      await other.runs.close();
    }
  });

  it('a run cancelled before any worker took it is never started', async () => {
    // A queue of its own with no worker yet; the inventory as this file's worker read it.
    const idle = queueEnv();
    const other = await queueClient(idle);
    let late: LabWorker | undefined;
    try {
      const inventory = await runs.inventory(lab.flake);
      const before = { boots: boots(), commands: rebootCommands() };
      const { runId } = await other.runs.submit(reboot(['nas']), { inventory: async () => inventory });
      expect(await jobState(other.runs, runId)).toBe('waiting');
      await other.control.cancel(runId, bob);
      late = await startWorker(lab, idle, 'late-worker');
      const events = await followRun(other.runs, runId);
      expect(events.map((event) => event.type)).toEqual(['run.finished']);
      expect(events[0]).toMatchObject({ status: 'cancelled', reason: 'cancelled by bob', pending: ['nas'] });
      expect(boots()).toEqual(before.boots);
      expect(rebootCommands()).toEqual(before.commands);
      await expect.poll(() => lockHolders(other.runs, ['nas'])).toEqual({ nas: null });
    } finally {
      await late?.stop();
      await other.runs.close();
    }
  });
});

describe('health runs on the queue', () => {
  it("report each machine's health and touch nothing", async () => {
    const before = { boots: boots(), commands: rebootCommands() };
    const { runId } = await runs.submit({ ...reboot(['nas', 'media', 'sick']), kind: 'health' });
    expect(await lockHolders(runs, ['nas', 'media', 'sick'])).toEqual({ nas: null, media: null, sick: null });
    const events = await followRun(runs, runId);
    expect(events.at(-1)).toMatchObject({
      type: 'run.finished',
      status: 'failed',
      failure: { machine: 'sick', phase: 'health' },
    });
    const health = eventsOf(events, 'machine.health');
    expect(Object.fromEntries(health.map((event) => [event.machine, event.ok]))).toEqual({
      nas: true,
      media: true,
      sick: false,
    });
    const state = await finishedState(runs, runId);
    if (state.kind !== 'health') throw new Error('a health run');
    expect(state.progress.nas?.result).toMatchObject({ ok: true, checks: [{ name: 'tcp 2049', ok: true }] });
    expect(state.progress.sick?.result).toMatchObject({
      ok: false,
      checks: [{ name: 'tcp 5672', ok: false }],
    });
    expect(state.progress.media?.result).toMatchObject({ ok: true, reachable: true, checks: [] });
    expect(boots()).toEqual(before.boots);
    expect(rebootCommands()).toEqual(before.commands);
  });

  // BUG, in files this test's author does not own: the engines report run.finished (and
  // run.halted) before they checkpoint the state (health-run.ts run() and end(); reboot-run.ts
  // finish() and stepFailed(); deploy-run.ts likewise), and run-processor.ts appends each event as
  // it is reported, so the event is in Redis before the state that goes with it. Whoever reacts to
  // the event reads a stale state: the Discord bot's finishedState() sees a health run still
  // running, its halt alert finds no state.halt, and the same request submitted right away is
  // answered with the finished run as a duplicate. Enable once the state is saved first.
  it('publish run.finished only once the finished state is saved', async () => {
    for (const parallel of [1, 2, 3]) {
      const { runId } = await runs.submit({ ...reboot(['nas', 'sick']), kind: 'health', parallel });
      await followRun(runs, runId);
      const { state } = (await runs.run(runId)).data;
      expect(state.status).toBe('failed');
    }
  });
});

describe('the inventory', () => {
  it('is evaluated once for repeated requests on an unchanged flake, and again once it changes', async () => {
    const count = async (what: 'eval' | 'flake') =>
      (await nix.calls()).filter((call) => call === what).length;
    const cached = () => runs.redis.keys(`${runs.keys.inventory('*')}`);
    await runs.inventory(lab.flake);
    const evaluations = await count('eval');
    const reads = await count('flake');
    expect(evaluations).toBeGreaterThanOrEqual(1);
    expect(await cached()).toHaveLength(1);

    // Two more requests (each a read of the inventory by the worker), no evaluation.
    for (const targets of [['nas'], ['nas', 'sick']]) {
      const { runId } = await runs.submit({ ...reboot(targets), kind: 'health' });
      await followRun(runs, runId);
    }
    expect(await count('flake')).toBe(reads + 2);
    expect(await count('eval')).toBe(evaluations);
    expect(await cached()).toHaveLength(1);
    expect((await runs.cachedInventory(lab.flake))?.machines.map((machine) => machine.name).sort()).toEqual(
      [...machines].sort(),
    );

    // A changed flake is another revision: evaluated once more (the counter does see evaluations).
    await lab.configure('nas', {
      services: [
        { type: 'tcp', port: 2049 },
        { type: 'tcp', port: 111 },
      ],
    });
    const { runId } = await runs.submit({ ...reboot(['nas']), kind: 'health' });
    await followRun(runs, runId);
    expect(await count('eval')).toBe(evaluations + 1);
    expect(await cached()).toHaveLength(2);
  });
});
