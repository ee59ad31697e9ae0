import type { Logger } from 'pino';
import type { Inventory } from '../../domain/inventory/schema.js';
import type { RunState } from '../run-state.js';
import type { RunQueue } from './run-queue.js';
import type { RunRequest } from './run-request.js';

/** What starting a follow-up run takes: the queue, and the inventory as the processor reads it. */
export interface FollowUpDeps {
  readonly runs: RunQueue;
  readonly readInventory: (flake: string) => Promise<Inventory>;
  readonly log?: Logger;
}

/** After a deploy, the machines that need it are rebooted in a run of their own. */
export async function rebootAfterDeploy(
  deps: FollowUpDeps,
  request: RunRequest,
  state: RunState,
): Promise<string | null> {
  const needsReboot = state.needsReboot ?? [];
  if (needsReboot.length === 0) return null;
  try {
    const submitted = await deps.runs.submit(
      {
        kind: 'reboot',
        flake: request.flake,
        targets: needsReboot,
        ...(request.rebootTimeout !== undefined ? { rebootTimeout: request.rebootTimeout } : {}),
        ...(request.healthTimeout !== undefined ? { healthTimeout: request.healthTimeout } : {}),
        // The reboot keeps to the windows as its deploy did (the nightly pipeline's).
        ...(request.inWindow ? { inWindow: true } : {}),
        ...(request.forceWindow ? { forceWindow: true } : {}),
        requestedBy: request.requestedBy,
        source: request.source,
      },
      { inventory: (flake) => deps.readInventory(flake) },
    );
    return submitted.runId;
  } catch (error) {
    deps.log?.warn(
      { err: error, runId: state.id, machines: needsReboot },
      `run ${state.id}: could not start the reboot of ${needsReboot.join(', ')}: ${(error as Error).message}`,
    );
    return null;
  }
}
