import type { Logger } from 'pino';
import type { Inventory } from '../../domain/inventory/schema.js';
import { BrokenHostsError } from '../../domain/planner/errors.js';
import { flakeUpdateArgs, type NixSettings, nixVersion, runNix } from '../../transport/process/nix.js';
import type { RunQueue } from './run-queue.js';

/** What the nightly schedule's pipeline job carries (see LabWorker.applySchedule). */
export interface PipelineOptions {
  readonly flake: string;
  readonly flakeUpdate: boolean;
  /** Absent in the jobs of schedules installed before it existed: false. */
  readonly skipBroken?: boolean;
}

/** What the pipeline takes: nix (for the flake update), the queue, the inventory as the processor reads it. */
export interface PipelineDeps {
  readonly nix: NixSettings;
  readonly runs: RunQueue;
  readonly readInventory: (flake: string) => Promise<Inventory>;
  readonly log?: Logger;
}

/**
 * The scheduled pipeline: optionally update the flake's inputs, then deploy all, reboot what
 * needs it. Hosts that could not be read make it refuse (the job fails with the message, which
 * the worker logs) unless the schedule skips them (LAB_SCHEDULE_SKIP_BROKEN).
 */
export async function nightlyPipeline(
  deps: PipelineDeps,
  options: PipelineOptions,
): Promise<{ runId: string | null }> {
  if (options.flakeUpdate) {
    const version = await nixVersion(deps.nix);
    const result = await runNix(deps.nix, flakeUpdateArgs(version, options.flake));
    if (!result.ok) throw new Error(`nix flake update ${options.flake} failed: ${result.failure.message}`);
  }
  const skipBroken = options.skipBroken === true;
  const submitted = await deps.runs
    .submit(
      {
        kind: 'deploy',
        flake: options.flake,
        targets: [],
        rebootIfNeeded: true,
        // Scheduled: every machine's activation and reboot only inside its maintenance window.
        inWindow: true,
        skipBroken,
        requestedBy: { id: 'lab:schedule', name: 'the nightly schedule' },
        source: 'schedule',
      },
      { inventory: (flake) => deps.readInventory(flake) },
    )
    .catch((error: unknown) => {
      if (error instanceof BrokenHostsError)
        throw error.withHowToSkip('set LAB_SCHEDULE_SKIP_BROKEN=1 (NixOS: schedule.skipBroken)');
      throw error;
    });
  const skipped = submitted.data.skipped ?? [];
  if (skipped.length > 0)
    deps.log?.warn(
      { runId: submitted.runId, skipped },
      `the nightly pipeline goes on without ${skipped.map((host) => host.name).join(', ')}, which could not be read ` +
        `(LAB_SCHEDULE_SKIP_BROKEN): ${skipped.map((host) => `${host.name}: ${host.reason}`).join('; ')}`,
    );
  return { runId: submitted.runId };
}
