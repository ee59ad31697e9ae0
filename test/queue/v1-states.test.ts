import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/domain/inventory/load-inventory.js';
import type { Inventory, Machine } from '../../src/domain/inventory/schema.js';
import { planIdOf } from '../../src/orchestration/plan-id.js';
import type { RunControl } from '../../src/orchestration/queue/run-control.js';
import { JOB, KEEP_FINISHED_S, type RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { LabWorker } from '../../src/orchestration/queue/run-worker.js';
import { type Homelab, startHomelab } from '../sim/homelab.js';
import { testNix } from '../support/flake-fixtures.js';
import { finishedState, followRun, queueClient, queueEnv, startWorker } from '../support/queue.js';
import { eventsOf } from '../support/run-events.js';

/**
 * Runs written by the previous version (run state version 1) resume under this one: their job
 * data is written into Redis as that version's worker left it (a reboot parked waiting for an
 * approval, a deploy halted after a failed health gate), then a worker of this version finishes
 * them. The v1 states are built field by field as the previous version's createRebootRun and
 * createDeployRun made them, and checkpointed as its engines did (see the captured examples in
 * test/fixtures/run-states/v1-states.json).
 */

let lab: Homelab;
let inventory: Inventory;
let worker: LabWorker | null = null;
let runs: RunQueue;
let control: RunControl;
const env = queueEnv();
const alice = { id: 'discord:410001', name: 'alice' };
const bob = { id: 'discord:410002', name: 'bob' };
const policy = { required: { low: 0, medium: 0, high: 1, critical: 2 }, timeout: 3600, selfApproval: false };

beforeAll(async () => {
  lab = await startHomelab({
    bootTimeMs: 200,
    machines: [
      {
        name: 'db',
        lab: { role: 'db', rebootOrder: 1, orchestration: { rebootDelay: 0, criticalityLevel: 'high' } },
      },
      { name: 'cache', lab: { role: 'cache', rebootOrder: 2 } },
    ],
  });
  inventory = await loadInventory({ flake: lab.flake, nix: testNix });
  if (inventory.broken.length > 0) throw new Error(JSON.stringify(inventory.broken));
  ({ runs, control } = await queueClient(env));
});

afterAll(async () => {
  await runs?.close();
  await worker?.stop();
  await lab?.stop();
});

const machineOf = (name: string) => inventory.machines.find((m) => m.name === name) as Machine;

/** A version 1 job as RunQueue.submit added it, parked until `until` (moveToDelayed). */
async function writeV1Job(runId: string, state: Record<string, unknown>, request: Record<string, unknown>) {
  const machines = state.machines as Record<string, Machine>;
  const data = {
    request: {
      targets: Object.keys(machines),
      parallel: 1,
      skipBroken: false,
      onlyNeeded: false,
      rebootIfNeeded: false,
      buildOnTarget: false,
      substituteOnTarget: false,
      requestedBy: alice,
      source: 'discord',
      flake: lab.flake,
      ...request,
    },
    planId: planIdOf(state as never),
    fingerprint: `v1-${runId}`,
    policy,
    requestedAt: Date.now() - 60_000,
    skipped: [],
    state,
  };
  expect(await runs.locks.acquire(runId, Object.keys(machines))).toBeNull();
  await runs.queue.add(JOB.run, data, {
    jobId: runId,
    delay: 10 * 60_000,
    removeOnComplete: { age: KEEP_FINISHED_S },
    removeOnFail: { age: KEEP_FINISHED_S },
  });
  return data;
}

/** The version 1 envelope (createRebootRun / createDeployRun of the previous version). */
function v1Envelope(runId: string, kind: 'reboot' | 'deploy', names: string[], now: number) {
  return {
    version: 1,
    id: runId,
    kind,
    flake: lab.flake,
    createdAt: now - 60_000,
    machines: Object.fromEntries(names.map((name) => [name, machineOf(name)])),
    step: 0,
    status: 'running',
    halt: null,
    cancelReason: null,
    abortReason: null,
    startedAt: now - 50_000,
    finishedAt: null,
  };
}

describe('runs written by the previous version', () => {
  it('a reboot parked waiting for approval resumes on the approval, reboots and finishes', async () => {
    const now = Date.now();
    const runId = 'v1parked01';
    const state = {
      ...v1Envelope(runId, 'reboot', ['db'], now),
      settings: {
        rebootTimeout: 600,
        healthTimeout: 300,
        stabilityWindow: 0,
        rebootCommand: ['systemctl', 'reboot'],
        confirmLevels: ['high', 'critical'],
      },
      steps: [['db']],
      progress: {
        db: {
          phase: 'confirmation',
          delayUntil: now - 40_000,
          confirmed: false,
          approvals: [],
          bootIdBefore: null,
          rebootSentAt: null,
          bootIdAfter: null,
          startedAt: now - 40_000,
          finishedAt: null,
          error: null,
          skipReason: null,
          lastChecks: null,
          approvalAskedAt: now - 40_000,
          approvedAt: null,
          downAt: null,
          downMs: null,
          healthyAt: null,
        },
      },
    };
    const data = await writeV1Job(runId, state, { kind: 'reboot' });
    // The previous worker marked db as waiting and announced its wait with no approvals.
    await runs.redis.hset(runs.keys.control(runId), {
      'waiting:db': String(now - 40_000),
      'announced:db': '0',
    });
    const bootsBefore = lab.bootLog('db').length;

    worker = await startWorker(lab, env, 'new-worker');
    await control.approve(runId, 'db', bob, data.planId);
    const events = await followRun(runs, runId);

    expect(eventsOf(events, 'machine.confirmed')).toEqual([
      expect.objectContaining({ machine: 'db', approvals: [expect.objectContaining({ by: 'bob' })] }),
    ]);
    expect(events.at(-1)).toMatchObject({
      type: 'run.finished',
      status: 'succeeded',
      outcomes: [{ machine: 'db', outcome: 'rebooted' }],
    });
    expect(lab.bootLog('db').length).toBe(bootsBefore + 1);
    const final = await finishedState(runs, runId);
    expect(final.progress.db?.approval).toMatchObject({ approved: true, approvals: [{ by: 'bob' }] });
    // Checkpointed by this version: the job holds a version 2 state now.
    const stored = (await runs.queue.getJob(runId))?.data.state;
    expect(stored).toMatchObject({ version: 2, steps: [{ machines: ['db'] }] });
  });

  it('a deploy halted after a failed health gate goes on when an operator skips the machine', async () => {
    const now = Date.now();
    const runId = 'v1halted01';
    const at = now - 30_000;
    const previous = {
      current: '/nix/store/old-cache',
      profile: '/nix/store/old-cache',
      generation: 1,
      bootDefault: { loader: 'systemd-boot', system: '/nix/store/old-cache', unknown: null },
      booted: null,
    };
    const state = {
      ...v1Envelope(runId, 'deploy', ['cache'], now),
      status: 'halted',
      settings: { healthTimeout: 300, confirmLevels: ['high', 'critical'] },
      steps: [{ strategy: 'rolling', machines: ['cache'] }],
      systems: { cache: '/nix/store/new-cache' },
      needsReboot: [],
      progress: {
        cache: {
          phase: 'failed',
          approvals: null,
          previous,
          profileSet: false,
          createdGeneration: 2,
          activation: null,
          rollbackSteps: null,
          startedAt: now - 45_000,
          error: { phase: 'health', reason: 'health checks still failing after 300 s: tcp 6379 (refused)' },
          rollback: { ok: true, reason: null, verified: null },
          skipReason: null,
          lastChecks: [{ name: 'tcp 6379', type: 'tcp', ok: false, latencyMs: 1, error: 'refused' }],
        },
      },
      halt: {
        machine: 'cache',
        phase: 'health',
        reason: 'health checks still failing after 300 s: tcp 6379 (refused)',
        checks: [{ name: 'tcp 6379', type: 'tcp', ok: false, latencyMs: 1, error: 'refused' }],
        at,
        expiresAt: now + 3_600_000,
      },
    };
    await writeV1Job(runId, state, { kind: 'deploy' });
    const bootsBefore = lab.bootLog('cache').length;
    worker ??= await startWorker(lab, env, 'new-worker');
    // The halt of a version 1 state allows what it allowed then: no skip only for a failed build.
    await control.decide(runId, 'skip', bob);
    const events = await followRun(runs, runId);
    expect(eventsOf(events, 'run.decided')).toEqual([
      expect.objectContaining({ decision: 'skip', by: 'bob' }),
    ]);
    expect(events.at(-1)).toMatchObject({
      type: 'run.finished',
      status: 'succeeded',
      outcomes: [{ machine: 'cache', outcome: 'skipped' }],
    });
    const final = await finishedState(runs, runId);
    expect(final.progress.cache).toMatchObject({
      phase: 'skipped',
      skipReason: expect.stringContaining('bob'),
    });
    // Nothing was activated on cache: it still runs what it ran before the deploy.
    expect(lab.bootLog('cache').length).toBe(bootsBefore);
  });
});
