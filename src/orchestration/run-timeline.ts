import type { MachineTimeline, TimelineWait } from './machine-timeline.js';
import { phaseTable } from './phases.js';
import { type MachineProgress, type RunState, stepMachines } from './run-state.js';

/**
 * The adapter from a run's state to the run report's timelines: the one place that knows which
 * progress fields hold which moment. Pure.
 */

/** A machine's timeline from its progress (reboot fields where the kind has them). */
export function timelineOfProgress(
  machine: string,
  progress: MachineProgress,
  kind: RunState['kind'] = 'reboot',
): MachineTimeline {
  const waits: TimelineWait[] = [];
  const { startedAt, finishedAt, approval } = progress;
  const delayUntil = progress.delayUntil ?? null;
  const rebootSentAt = progress.rebootSentAt ?? null;
  // The rebootDelay runs from the machine's start (after its window wait, if any) until delayUntil.
  const windowWaits = progress.windowWaits ?? [];
  const delayFrom = Math.max(startedAt ?? 0, ...windowWaits.map((wait) => wait.to));
  // A rebootDelay is whole seconds: a delayUntil a few ms after the start is no delay (rebootDelay 0).
  if (startedAt !== null && delayUntil !== null && delayUntil - delayFrom >= 500)
    waits.push({
      kind: 'delay',
      from: delayFrom,
      to: Math.min(delayUntil, rebootSentAt ?? finishedAt ?? delayUntil),
    });
  for (const wait of windowWaits) waits.push({ kind: 'window', from: wait.from, to: wait.to });
  if (approval.askedAt !== null && approval.approvedAt !== null)
    waits.push({ kind: 'approval', from: approval.askedAt, to: approval.approvedAt });
  const downAt = progress.downAt ?? null;
  const backAt = downAt !== null && progress.downMs != null ? downAt + progress.downMs : null;
  return {
    machine,
    outcome: phaseTable(kind).outcome(progress),
    startedAt,
    waits: waits.sort((a, b) => a.from - b.from),
    actionAt: rebootSentAt,
    downAt,
    backAt,
    healthyAt: progress.healthyAt ?? null,
    finishedAt,
  };
}

/** Every machine's timeline of a run, in run order. */
export function timelinesOfRun(state: Pick<RunState, 'kind' | 'steps' | 'progress'>): MachineTimeline[] {
  return stepMachines(state).flatMap((step) =>
    step.flatMap((machine) => {
      const progress = state.progress[machine];
      return progress ? [timelineOfProgress(machine, progress, state.kind)] : [];
    }),
  );
}
