import type { MachineTimeline, TimelineWait } from './machine-timeline.js';
import { type MachineProgress, type RebootRunState, rebootOutcome } from './run-state.js';

/**
 * The adapter from today's reboot run state to the run report's timelines: the one place that
 * knows which progress fields hold which moment (re-point it at the new run state when the engine
 * changes shape). Pure.
 */

/** A machine's timeline from its reboot progress. */
export function timelineOfProgress(machine: string, progress: MachineProgress): MachineTimeline {
  const waits: TimelineWait[] = [];
  // The rebootDelay runs from the machine's start until delayUntil.
  if (progress.startedAt !== null && progress.delayUntil !== null && progress.delayUntil > progress.startedAt)
    waits.push({
      kind: 'delay',
      from: progress.startedAt,
      to: Math.min(progress.delayUntil, progress.rebootSentAt ?? progress.finishedAt ?? progress.delayUntil),
    });
  if (progress.approvalAskedAt != null && progress.approvedAt != null)
    waits.push({ kind: 'approval', from: progress.approvalAskedAt, to: progress.approvedAt });
  const downAt = progress.downAt ?? null;
  const backAt = downAt !== null && progress.downMs != null ? downAt + progress.downMs : null;
  return {
    machine,
    outcome: rebootOutcome(progress),
    startedAt: progress.startedAt,
    waits: waits.sort((a, b) => a.from - b.from),
    actionAt: progress.rebootSentAt,
    downAt,
    backAt,
    healthyAt: progress.healthyAt ?? null,
    finishedAt: progress.finishedAt,
  };
}

/** Every machine's timeline of a reboot run, in run order. */
export function timelinesOfRun(state: Pick<RebootRunState, 'steps' | 'progress'>): MachineTimeline[] {
  return state.steps.flatMap((step) =>
    step.flatMap((machine) => {
      const progress = state.progress[machine];
      return progress ? [timelineOfProgress(machine, progress)] : [];
    }),
  );
}
