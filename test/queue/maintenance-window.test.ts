import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';
import { timelinesOfRun } from '../../src/orchestration/run-timeline.js';
import type { Homelab } from '../sim/homelab.js';
import { standardMachines } from '../support/homelabs.js';
import { finishedState, followRun, jobState, queueEnv, waitForEvent } from '../support/queue.js';
import { type QueueStack, startQueueStack } from '../support/queue-stack.js';
import { runLab } from '../support/run-cli.js';

/**
 * Maintenance windows in queued runs, on the simulated homelab with a real worker and redis: a
 * machine whose turn comes outside its window parks the run (holding no worker) until the window
 * opens; one that could not finish before the window closes is not started; --force-window and
 * Start now start it at once. Each window is LAB_MAINTENANCE_WINDOW of the submitting client (to
 * the second: `HH:MM:SS-HH:MM:SS UTC`), which the run keeps in its settings.
 */

let stack: QueueStack;
let lab: Homelab;
const env = queueEnv();
const alice = { id: 'cli:alice', name: 'alice' };
const bob = { id: 'discord:bob', name: 'bob' };

/** `HH:MM:SS` in UTC of an epoch ms time (whole seconds). */
const utc = (ms: number) => new Date(ms).toISOString().slice(11, 19);

/** A client whose global window opens at `opensAt` and closes at `closesAt` (epoch ms, whole seconds). */
function clientWithWindow(opensAt: number, closesAt: number) {
  return stack.client({ ...env, LAB_MAINTENANCE_WINDOW: `${utc(opensAt)}-${utc(closesAt)} UTC` });
}

type WindowWait = Extract<RunEvent, { type: 'machine.waiting'; reason: 'window' }>;
/** The run's first machine.waiting for a window. */
const windowWait = async (runs: RunQueue, runId: string): Promise<WindowWait> =>
  (await waitForEvent(runs, runId, 'machine.waiting', (e) => e.reason === 'window')) as WindowWait;

/** The next whole second at least `ms` from now. */
const secondsFromNow = (ms: number) => Math.ceil((Date.now() + ms) / 1000) * 1000;

beforeAll(async () => {
  stack = await startQueueStack({ machines: { nas: standardMachines.nas }, env });
  ({ lab } = stack);
  // The flake is evaluated once here, so that a run's first step comes within a moment of its submit.
  const { runs } = await clientWithWindow(Date.now(), Date.now() + 1000);
  await runs.inventory(lab.flake);
});

afterEach(async () => {
  await stack.cancelActiveRuns();
});

afterAll(async () => {
  await stack?.stop();
});

const reboot = { kind: 'reboot' as const, targets: ['nas'], rebootTimeout: 60, healthTimeout: 30 };

describe('maintenance windows in queued runs', () => {
  it('a window that opens in 2 s parks the step, then the machine reboots once it is open', async () => {
    const opensAt = secondsFromNow(2_000);
    const { runs } = await clientWithWindow(opensAt, opensAt + 3600_000);
    const before = lab.bootLog('nas').length;
    const submitted = await runs.submit({
      ...reboot,
      flake: lab.flake,
      inWindow: true,
      requestedBy: alice,
      source: 'cli',
    });
    const waiting = await windowWait(runs, submitted.runId);
    expect(waiting).toMatchObject({
      machine: 'nas',
      reason: 'window',
      opensAt: new Date(opensAt).toISOString(),
      closesAt: new Date(opensAt + 3600_000).toISOString(),
      why: expect.stringContaining('outside its window'),
    });
    // Parked: the job is delayed, no worker holds it, until the window opens.
    expect(Date.now()).toBeLessThan(opensAt);
    await expect
      .poll(() => jobState(runs, submitted.runId), { timeout: 1_500, interval: 50 })
      .toBe('delayed');

    const events = await followRun(runs, submitted.runId);
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    expect(events.filter((e) => e.type === 'machine.waiting' && e.reason === 'window')).toHaveLength(1);
    // The machine's own boot records: one reboot, after the window opened.
    const boots = lab.bootLog('nas');
    expect(boots.length).toBe(before + 1);
    expect(boots.at(-2)?.downAt).toBeGreaterThanOrEqual(opensAt);
    const requests = lab.rebootRequests('nas');
    expect(requests.at(-1)?.at).toBeGreaterThanOrEqual(opensAt);

    // The wait is in the run's progress, and so in its report.
    const state = await finishedState(runs, submitted.runId);
    const waits = state.progress.nas?.windowWaits ?? [];
    expect(waits).toHaveLength(1);
    expect(waits[0]?.to).toBeGreaterThanOrEqual(opensAt);
    expect(state.progress.nas?.windowWait).toBeNull();
    const [timeline] = timelinesOfRun(state);
    expect(timeline?.waits.map((wait) => wait.kind)).toContain('window');
    // lab status <run> prints the run report: nas waited for its window, then went down and came back.
    const status = await runLab(['status', submitted.runId], env);
    expect(status.stderr).toBe('');
    const lines = status.stdout.split('\n');
    expect(lines).toContain('  timeline:');
    expect(lines[lines.indexOf('  timeline:') + 1]).toMatch(
      /^ {4}nas\s+\+0:00\s+waited window [\d.]+ s · down [\d.]+ s · back \+\d+:\d\d · healthy \+\d+:\d\d · [\d.]+ s · rebooted$/,
    );
  });

  it('--force-window starts at once although the window is closed', async () => {
    const opensAt = secondsFromNow(3600_000);
    const { runs } = await clientWithWindow(opensAt, opensAt + 3600_000);
    const before = lab.bootLog('nas').length;
    const submitted = await runs.submit({
      ...reboot,
      flake: lab.flake,
      forceWindow: true,
      requestedBy: alice,
      source: 'cli',
    });
    expect(submitted.data.state.settings.window).toBe('forced');
    const events = await followRun(runs, submitted.runId);
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    expect(events.some((e) => e.type === 'machine.waiting' && e.reason === 'window')).toBe(false);
    expect(lab.bootLog('nas').length).toBe(before + 1);
    expect(lab.rebootRequests('nas').at(-1)?.at).toBeLessThan(opensAt);
  });

  it('a machine that could not finish before the window closes is not started; Start now starts it', async () => {
    // Open now, but only 30 s more: the reboot may take 60 + 30 s, so it waits for tomorrow's opening.
    const opensAt = secondsFromNow(-60_000);
    const closesAt = secondsFromNow(30_000);
    const { runs, control } = await clientWithWindow(opensAt, closesAt);
    const requests = lab.rebootRequests('nas').length;
    const submitted = await runs.submit({
      ...reboot,
      flake: lab.flake,
      inWindow: true,
      requestedBy: alice,
      source: 'cli',
    });
    const waiting = await windowWait(runs, submitted.runId);
    expect(waiting.why).toMatch(/closes before 2 min are over/);
    expect(Date.parse(waiting.opensAt)).toBe(opensAt + 24 * 3600_000);
    await expect.poll(() => jobState(runs, submitted.runId), { timeout: 5_000 }).toBe('delayed');
    expect(lab.rebootRequests('nas').length).toBe(requests);

    // Start now: refused for a machine of another run, then recorded and the run goes on with it.
    await expect(control.startNow(submitted.runId, 'nas', bob, 'another-plan')).rejects.toThrow(
      /another plan/,
    );
    await control.startNow(submitted.runId, 'nas', bob, submitted.data.planId);
    const events: RunEvent[] = await followRun(runs, submitted.runId);
    expect(events.find((e) => e.type === 'machine.window-forced')).toMatchObject({
      machine: 'nas',
      by: 'bob',
    });
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    expect(lab.rebootRequests('nas').length).toBe(requests + 1);
    const state = await finishedState(runs, submitted.runId);
    expect(state.progress.nas?.windowForcedBy).toBe('bob');
    expect(state.progress.nas?.windowWaits).toHaveLength(1);
  });
});
