import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { type QueueConfig, queueConfig } from '../../src/orchestration/queue/queue-config.js';
import { RunControl } from '../../src/orchestration/queue/run-control.js';
import { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { RunState } from '../../src/orchestration/queue/run-request.js';
import { LabWorker } from '../../src/orchestration/queue/run-worker.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';
import { isRunDone } from '../../src/orchestration/run-state.js';
import type { NixSettings } from '../../src/transport/process/nix.js';
import { loadSshCredentials } from '../../src/transport/ssh/ssh-credentials.js';
import type { Homelab } from '../sim/homelab.js';
import { testNix } from './flake-fixtures.js';

/**
 * Environment for a test's own queue on the test run's redis-server: a unique queue name, short
 * BullMQ locks (a killed worker's run moves on in about a second) and short parks.
 */
export function queueEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: inject('redisUrl'),
    LAB_QUEUE: `test-${randomBytes(4).toString('hex')}`,
    LAB_LOCK_DURATION_MS: '1500',
    LAB_ACTIVE_WAIT: '30',
    LAB_PARK_POLL: '1',
    NIX_CONFIG: 'substituters =',
    ...extra,
  };
}

/** A worker in this process for the homelab's machines (`nix`: e.g. a countingNix wrapper). */
export async function startWorker(
  lab: Homelab,
  env: Record<string, string>,
  name = 'test-worker',
  options: { nix?: NixSettings } = {},
): Promise<LabWorker> {
  const credentials = await loadSshCredentials(
    { keyPath: lab.keyPath, knownHostsPath: lab.knownHostsPath },
    {},
  );
  return LabWorker.start(queueConfig(env), {
    nix: options.nix ?? testNix,
    credentials,
    name,
    healthIntervalMs: 100,
  });
}

/** A client of the test's queue, with its control API. */
export interface QueueClient {
  runs: RunQueue;
  control: RunControl;
  config: QueueConfig;
}

/** Connects a QueueClient to the queue of `env` (close it with `runs.close()`). */
export async function queueClient(env: Record<string, string>): Promise<QueueClient> {
  const config = queueConfig(env);
  const runs = await RunQueue.connect(config, 'test-client');
  return { runs, control: new RunControl(runs), config };
}

/** Follows a run's events until it finishes (or `until` matches one), on a connection of its own. */
export async function followRun(
  runs: RunQueue,
  runId: string,
  until: (event: RunEvent) => boolean = (event) => event.type === 'run.finished',
  timeoutMs = 90_000,
): Promise<RunEvent[]> {
  const blocking = runs.duplicateConnection('test-follow');
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: RunEvent[] = [];
  try {
    for await (const event of runs.events.follow(runId, blocking, controller.signal)) {
      events.push(event);
      if (until(event)) return events;
    }
    if (controller.signal.aborted)
      throw new Error(
        `run ${runId} did not get there within ${timeoutMs} ms; events: ${events.map((e) => e.type).join(', ')}` +
          `; the last: ${JSON.stringify(events.at(-1))}`,
      );
    return events;
  } finally {
    clearTimeout(timer);
    blocking.disconnect();
  }
}

/** Replays and follows a run's events until one matches, and returns that one. */
export async function waitForEvent<T extends RunEvent['type']>(
  runs: RunQueue,
  runId: string,
  type: T,
  match: (event: Extract<RunEvent, { type: T }>) => boolean = () => true,
  timeoutMs = 60_000,
): Promise<Extract<RunEvent, { type: T }>> {
  const matches = (event: RunEvent): event is Extract<RunEvent, { type: T }> =>
    event.type === type && match(event as Extract<RunEvent, { type: T }>);
  const events = await followRun(runs, runId, matches, timeoutMs);
  const last = events.at(-1);
  if (!last || !matches(last))
    throw new Error(
      `run ${runId} finished without a ${type} event; events: ${events.map((e) => e.type).join(', ')}`,
    );
  return last;
}

/** Where BullMQ has the run's job: 'delayed' while it is parked, 'completed' once it is over. */
export async function jobState(runs: RunQueue, runId: string): Promise<string> {
  return (await runs.run(runId)).jobState;
}

/** The run holding each machine's lock (null: free). */
export async function lockHolders(
  runs: RunQueue,
  machines: readonly string[],
): Promise<Record<string, string | null>> {
  const holders: Record<string, string | null> = {};
  for (const machine of machines) holders[machine] = await runs.redis.get(runs.keys.lock(machine));
  return holders;
}

/** Cancels every run of the queue that is not over and waits until each is (test cleanup). */
export async function cancelActiveRuns(runs: RunQueue, control: RunControl): Promise<void> {
  const cleaner = { id: 'test:cleanup', name: 'test cleanup' };
  for (const record of await runs.runs(100)) {
    const { id, status } = record.data.state;
    if (isRunDone(status)) continue;
    await control.cancel(id, cleaner).catch(() => {});
    await followRun(runs, id, (event) => event.type === 'run.finished', 30_000).catch(() => {});
  }
}

/**
 * The run's state once it is saved as finished. The worker publishes `run.finished` a moment
 * before it saves the final state (see the report), so a reader that has just seen the event
 * waits for the state here instead of reading a stale one.
 */
export async function finishedState(runs: RunQueue, runId: string, timeoutMs = 10_000): Promise<RunState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { state } = (await runs.run(runId)).data;
    if (isRunDone(state.status)) return state;
    if (Date.now() >= deadline)
      throw new Error(`run ${runId} is still ${state.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
