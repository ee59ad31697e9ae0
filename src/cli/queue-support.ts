import { hostname, userInfo } from 'node:os';
import { queueConfig } from '../orchestration/queue/queue-config.js';
import type { RunQueue } from '../orchestration/queue/run-queue.js';
import type { Actor, RunJobData, RunRequestInput } from '../orchestration/queue/run-request.js';
import type { RunEvent } from '../orchestration/run-events.js';
import type { Context } from './commands/shared.js';
import { runSteps } from './render/run-status.js';
import { skippedLines } from './render/sequence.js';
import { eventPrinter, runExitCode } from './run-support.js';
import { absoluteFlakeRef } from './settings.js';

/** Runs `task` with a connection to the configured queue (REDIS_URL, LAB_QUEUE), closed after. */
export async function withRunQueue<T>(context: Context, task: (runs: RunQueue) => Promise<T>): Promise<T> {
  // Loaded when a queue is used: BullMQ and ioredis are not worth their start-up to a run here.
  const { RunQueue } = await import('../orchestration/queue/run-queue.js');
  const runs = await RunQueue.connect(queueConfig(context.env), 'lab-cli');
  try {
    return await task(runs);
  } finally {
    await runs.close();
  }
}

/** Who the terminal user is, for the run's record and approvals: --as, $LAB_USER, or user@host. */
export function cliActor(env: NodeJS.ProcessEnv, as?: string): Actor {
  const name = as ?? env.LAB_USER ?? `${safeUser()}@${hostname()}`;
  return { id: `cli:${name}`, name };
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/**
 * Enqueues a run and follows it on the terminal until it finishes; Ctrl-C stops following (the
 * run goes on in the workers). Sets the exit code from the run's outcome.
 */
export async function submitAndFollow(
  context: Context,
  request: RunRequestInput,
  json: boolean,
): Promise<void> {
  await withRunQueue(context, async (runs) => {
    const submitted = await runs.submit({ ...request, flake: absoluteFlakeRef(request.flake) });
    announce(context, submitted.runId, submitted.data, submitted.duplicate, json);
    const status = await follow(context, runs, submitted.runId, submitted.data, json);
    context.setExitCode(status === null ? 130 : runExitCode(status));
  });
}

function announce(
  context: Context,
  runId: string,
  data: RunJobData,
  duplicate: boolean,
  json: boolean,
): void {
  if (json) {
    const steps = runSteps(data.state);
    context.output.jsonLine({
      type: 'run.queued',
      runId,
      kind: data.state.kind,
      plan: data.planId,
      duplicate,
      steps,
      skipped: (data.skipped ?? []).map((host) => ({ name: host.name, reason: host.reason })),
    });
    return;
  }
  const { output } = context;
  const { style } = output;
  const skipped = data.skipped ?? [];
  output.lines([
    duplicate
      ? style.yellow(`The same request is already running as run ${runId}; following it.`)
      : `Queued ${data.state.kind} run ${style.bold(runId)} (plan ${data.planId}), started by ${data.request.requestedBy.name}.`,
    ...(skipped.length > 0 ? skippedLines(skipped, style) : []),
    style.dim(`  lab status ${runId}    lab cancel ${runId}`),
    '',
  ]);
}

/** Prints the run's events (from its start) until it finishes; null when the user stopped following. */
export async function follow(
  context: Context,
  runs: RunQueue,
  runId: string,
  data: RunJobData,
  json: boolean,
): Promise<string | null> {
  const print = eventPrinter(context.output, json, Object.values(data.state.machines));
  const blocking = runs.duplicateConnection('lab-cli-follow');
  const controller = new AbortController();
  const stop = () => {
    context.io.stderr.write(
      `\nlab: stopped following; run ${runId} goes on (lab status ${runId}, lab cancel ${runId})\n`,
    );
    controller.abort();
  };
  process.on('SIGINT', stop);
  let last: RunEvent | null = null;
  try {
    for await (const event of runs.events.follow(runId, blocking, controller.signal)) {
      print(event);
      last = event;
    }
  } finally {
    process.off('SIGINT', stop);
    blocking.disconnect();
  }
  return last?.type === 'run.finished' ? last.status : null;
}
