import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { type QueueConfig, queueConfig } from '../../src/orchestration/queue/queue-config.js';
import { RunControl } from '../../src/orchestration/queue/run-control.js';
import { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import { LabWorker } from '../../src/orchestration/queue/run-worker.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';
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

/** A worker in this process for the homelab's machines. */
export async function startWorker(
  lab: Homelab,
  env: Record<string, string>,
  name = 'test-worker',
): Promise<LabWorker> {
  const credentials = await loadSshCredentials(
    { keyPath: lab.keyPath, knownHostsPath: lab.knownHostsPath },
    {},
  );
  return LabWorker.start(queueConfig(env), { nix: testNix, credentials, name, healthIntervalMs: 100 });
}

/** A client of the test's queue, with its control API. */
export async function queueClient(
  env: Record<string, string>,
): Promise<{ runs: RunQueue; control: RunControl; config: QueueConfig }> {
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
        `run ${runId} did not get there within ${timeoutMs} ms; events: ${events.map((e) => e.type).join(', ')}`,
      );
    return events;
  } finally {
    clearTimeout(timer);
    blocking.disconnect();
  }
}
