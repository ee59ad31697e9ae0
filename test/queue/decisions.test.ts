import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RunControlError } from '../../src/errors.js';
import type { RunControl } from '../../src/orchestration/queue/run-control.js';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { RebootRunState } from '../../src/orchestration/run-state.js';
import type { Homelab } from '../sim/homelab.js';
import { tcp } from '../support/homelabs.js';
import { finishedState, followRun, jobState, lockHolders, queueEnv, waitForEvent } from '../support/queue.js';
import { type QueueStack, startQueueStack } from '../support/queue-stack.js';
import { runLab } from '../support/run-cli.js';
import { eventsOf } from '../support/run-events.js';

/**
 * A failed step halts a queued run until an operator retries, skips or aborts it (or the halt
 * expires). app's health check fails while a marker file exists (the machines share /tmp with
 * this process), so a test breaks and fixes it at will.
 */

let stack: QueueStack;
let lab: Homelab;
let markers: string;
// Longer than a lock's default life (6 h): the locks must outlast the halt.
const env = queueEnv({ LAB_HALT_TIMEOUT: '30000' });
const hurriedEnv = queueEnv({ LAB_HALT_TIMEOUT: '2' });
let runs: RunQueue;
let control: RunControl;
/** A client of the queue of hurriedEnv (halts expire after 2 s), which has a worker of its own. */
let hurried: RunQueue;

const alice = { id: 'discord:300001', name: 'alice' };
const bob = { id: 'discord:300002', name: 'bob' };

beforeAll(async () => {
  markers = await mkdtemp(join(tmpdir(), 'lab-decisions-'));
  stack = await startQueueStack({
    machines: {
      app: {
        role: 'app',
        rebootOrder: 1,
        serves: [tcp(8080)],
        checks: [{ type: 'command', command: `test ! -e ${join(markers, 'app-broken')}` }],
      },
      web: { role: 'web', rebootOrder: 2, dependencies: ['app'] },
      // Parks a minute before its reboot: a run of it is active but not halted.
      slow: { role: 'batch', rebootOrder: 3, orchestration: { rebootDelay: 60 } },
    },
    env,
  });
  ({ lab, runs, control } = stack);
  await stack.startWorker(hurriedEnv, 'hurried-worker');
  ({ runs: hurried } = await stack.client(hurriedEnv));
});

beforeEach(async () => {
  await writeFile(join(markers, 'app-broken'), 'broken\n');
});

afterEach(async () => {
  await stack.cancelActiveRuns();
});

afterAll(async () => {
  await stack?.stop();
  if (markers) await rm(markers, { recursive: true, force: true });
});

const fixApp = () => rm(join(markers, 'app-broken'), { force: true });

function boots(): { app: number; web: number } {
  return { app: lab.bootLog('app').length, web: lab.bootLog('web').length };
}

function reboot(targets = ['app', 'web']) {
  return {
    kind: 'reboot' as const,
    flake: lab.flake,
    targets,
    healthTimeout: 2,
    requestedBy: alice,
    source: 'discord' as const,
  };
}

/** Submits a reboot of app and web and waits until app's failed health check halts it. */
async function halted(queue = runs) {
  const before = boots();
  const { runId } = await queue.submit(reboot());
  const halt = await waitForEvent(queue, runId, 'run.halted');
  await expect.poll(() => jobState(queue, runId), { timeout: 5_000 }).toBe('delayed');
  return { runId, halt, before };
}

async function rebootState(runId: string, options: { finished?: boolean } = {}): Promise<RebootRunState> {
  const state = options.finished ? await finishedState(runs, runId) : (await runs.run(runId)).data.state;
  if (state.kind !== 'reboot') throw new Error(`run ${runId} is a ${state.kind} run`);
  return state as RebootRunState;
}

describe('a failed step halts the run for a decision', () => {
  it('the halt names the machine, the phase and the failing check; retry after the fix succeeds', async () => {
    const { runId, halt, before } = await halted();
    expect(halt).toMatchObject({
      machine: 'app',
      phase: 'health',
      decisions: ['retry', 'skip', 'abort'],
      checks: [{ type: 'command', ok: false, name: `command test ! -e ${join(markers, 'app-broken')}` }],
    });
    expect(halt.reason).toMatch(/health checks still failing after 2 s: command test ! -e/);
    // Only the failing check is named; the passing one is not.
    expect(halt.checks.map((check) => check.name)).not.toContain('tcp 8080');
    const expiresIn = Date.parse(halt.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(29_000_000);
    expect(expiresIn).toBeLessThanOrEqual(30_000_000);
    const state = await rebootState(runId);
    expect(state.status).toBe('halted');
    expect(state.halt).toMatchObject({ machine: 'app', phase: 'health' });
    expect(boots()).toEqual({ app: before.app + 1, web: before.web });
    expect(await lockHolders(runs, ['app', 'web'])).toEqual({ app: runId, web: runId });
    // The halted run keeps its machines for as long as it may wait for a decision.
    for (const machine of ['app', 'web'])
      expect(await runs.redis.pttl(runs.keys.lock(machine))).toBeGreaterThan(expiresIn);

    await fixApp();
    const decidedAt = Date.now();
    await control.decide(runId, 'retry', bob);
    const events = await followRun(runs, runId);
    const decided = eventsOf(events, 'run.decided');
    expect(decided).toEqual([expect.objectContaining({ decision: 'retry', by: 'bob' })]);
    expect(Date.parse(decided[0]?.at ?? '') - decidedAt).toBeLessThan(5_000);
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded', failure: null });
    // The retry checks app's health again; it does not reboot app a second time.
    expect(boots()).toEqual({ app: before.app + 1, web: before.web + 1 });
    const after = await rebootState(runId, { finished: true });
    expect(after.progress.app).toMatchObject({ phase: 'succeeded', error: null });
    expect(after.progress.web?.phase).toBe('succeeded');
    await expect.poll(() => lockHolders(runs, ['app', 'web'])).toEqual({ app: null, web: null });
  });

  it('a retry that fails again halts again, and waits for a new decision', async () => {
    const { runId, halt, before } = await halted();
    await control.decide(runId, 'retry', bob);
    const again = await waitForEvent(runs, runId, 'run.halted', (event) => event.at !== halt.at);
    expect(again).toMatchObject({ machine: 'app', phase: 'health' });
    await expect.poll(() => jobState(runs, runId), { timeout: 5_000 }).toBe('delayed');
    // The retry was applied once; it does not answer the new halt.
    const state = await rebootState(runId);
    expect(state).toMatchObject({ status: 'halted', halt: { machine: 'app' } });
    // A new halt: after the first, saved before it was announced.
    expect(state.halt?.at).toBeGreaterThan(Date.parse(halt.at));
    expect(state.halt?.at).toBeLessThanOrEqual(Date.parse(again.at));
    expect(await runs.redis.hget(runs.keys.control(runId), 'decision')).toBeNull();
    expect(boots()).toEqual({ app: before.app + 1, web: before.web });
    await control.decide(runId, 'abort', alice);
    const finished = await waitForEvent(runs, runId, 'run.finished');
    expect(finished).toMatchObject({ status: 'aborted', reason: expect.stringMatching(/aborted by alice/) });
    const decided = eventsOf(await runs.events.read(runId), 'run.decided');
    expect(decided.map((event) => [event.decision, event.by])).toEqual([
      ['retry', 'bob'],
      ['abort', 'alice'],
    ]);
  });

  it('skip leaves the failed machine skipped and goes on with the later ones', async () => {
    const { runId, before } = await halted();
    await control.decide(runId, 'skip', bob);
    const events = await followRun(runs, runId);
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    expect(eventsOf(events, 'run.decided')).toEqual([
      expect.objectContaining({ decision: 'skip', by: 'bob' }),
    ]);
    expect(eventsOf(events, 'machine.succeeded').map((event) => event.machine)).toEqual(['web']);
    const state = await rebootState(runId, { finished: true });
    expect(state.progress.app).toMatchObject({ phase: 'skipped' });
    expect(state.progress.app?.skipReason).toMatch(/skipped by bob after failing at health/);
    expect(state.progress.web?.phase).toBe('succeeded');
    expect(boots()).toEqual({ app: before.app + 1, web: before.web + 1 });
    expect(lab.bootLog('web').at(-2)?.downAt).toBeGreaterThan(Date.parse(events[0]?.at ?? ''));
  });

  it('abort ends the run as aborted, naming who, and touches nothing more', async () => {
    const { runId, before } = await halted();
    const commands = lab.rebootRequests('web').length;
    await control.decide(runId, 'abort', bob);
    const finished = await waitForEvent(runs, runId, 'run.finished');
    expect(finished).toMatchObject({
      status: 'aborted',
      failure: { machine: 'app', phase: 'health' },
      pending: ['web'],
      outcomes: [
        { machine: 'app', outcome: 'failed' },
        { machine: 'web', outcome: 'not touched' },
      ],
    });
    expect(finished.reason).toMatch(/aborted by bob after app failed/);
    expect(await rebootState(runId, { finished: true })).toMatchObject({
      status: 'aborted',
      abortReason: 'aborted by bob after app failed',
    });
    // The CLI says so too: `lab status` and `lab follow` (exit 1, as for a failure).
    const status = await runLab(['status', runId, '--json'], env);
    expect(JSON.parse(status.stdout)).toMatchObject({
      status: 'aborted',
      abortReason: 'aborted by bob after app failed',
    });
    expect((await runLab(['status', runId], env)).stdout).toMatch(
      new RegExp(`reboot run ${runId}: aborted: aborted by bob after app failed`),
    );
    const followed = await runLab(['follow', runId], env);
    expect(followed.exitCode).toBe(1);
    expect(followed.stdout).toMatch(
      / {2}run +aborted: aborted by bob after app failed; app failed at health: .*; not touched: web\n$/,
    );
    expect(boots()).toEqual({ app: before.app + 1, web: before.web });
    expect(lab.rebootRequests('web').length).toBe(commands);
    await expect.poll(() => lockHolders(runs, ['app', 'web'])).toEqual({ app: null, web: null });
    await expect.poll(() => jobState(runs, runId)).toBe('completed');
    // It is over: no more decisions.
    await expect(control.decide(runId, 'retry', bob)).rejects.toThrow(/already aborted/);
  });

  it('a retry sent the moment the halt is announced is taken', async () => {
    const { runId } = await runs.submit(reboot());
    await waitForEvent(runs, runId, 'run.halted');
    await fixApp();
    await control.decide(runId, 'retry', bob);
    const events = await followRun(runs, runId);
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
  });

  it('a halted run can be cancelled instead', async () => {
    const { runId, before } = await halted();
    await control.cancel(runId, bob);
    const finished = await waitForEvent(runs, runId, 'run.finished');
    expect(finished).toMatchObject({ status: 'cancelled', reason: 'cancelled by bob', pending: ['web'] });
    expect(await finishedState(runs, runId)).toMatchObject({ status: 'cancelled', halt: null });
    expect(boots()).toEqual({ app: before.app + 1, web: before.web });
    await expect.poll(() => lockHolders(runs, ['app', 'web'])).toEqual({ app: null, web: null });
    await expect(control.decide(runId, 'retry', bob)).rejects.toThrow(/already cancelled/);
  });

  it('a decision on a run that is not halted is refused', async () => {
    const { runId } = await runs.submit(reboot(['slow']));
    await waitForEvent(runs, runId, 'machine.waiting', (event) => event.reason === 'delay');
    for (const decision of ['retry', 'skip', 'abort'] as const) {
      const refusal = await control.decide(runId, decision, bob).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(RunControlError);
      expect(String(refusal)).toMatch(
        new RegExp(`is running, not halted after a failure: nothing to ${decision}`),
      );
    }
    const events = await runs.events.read(runId);
    expect(eventsOf(events, 'run.decided')).toEqual([]);
    expect((await rebootState(runId)).status).toBe('running');
    expect(await runs.redis.hget(runs.keys.control(runId), 'decision')).toBeNull();
  });

  it('a halt nobody answers within LAB_HALT_TIMEOUT aborts the run', async () => {
    const { runId, halt, before } = await halted(hurried);
    const expiresIn = Date.parse(halt.expiresAt) - Date.parse(halt.at);
    expect(expiresIn).toBeGreaterThan(1_900);
    expect(expiresIn).toBeLessThanOrEqual(2_000);
    const finished = await waitForEvent(hurried, runId, 'run.finished', () => true, 15_000);
    expect(finished).toMatchObject({ status: 'aborted', failure: { machine: 'app', phase: 'health' } });
    expect(finished.reason).toMatch(/nobody retried, skipped or aborted within 2 s/);
    expect((await finishedState(hurried, runId)).status).toBe('aborted');
    expect(Date.parse(finished.at)).toBeGreaterThanOrEqual(Date.parse(halt.expiresAt));
    expect(Date.parse(finished.at) - Date.parse(halt.expiresAt)).toBeLessThan(3_000);
    expect(boots()).toEqual({ app: before.app + 1, web: before.web });
    await expect.poll(() => lockHolders(hurried, ['app', 'web'])).toEqual({ app: null, web: null });
  });
});
