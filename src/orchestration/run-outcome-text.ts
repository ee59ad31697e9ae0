import type { MachineOutcome, RunEvent } from './run-events.js';

/**
 * The words for how a run ended, shared by every renderer (terminal, Discord): they add colour,
 * icons or timestamps, never other words. A step toward one neutral event-text module.
 */

export interface FailureLike {
  readonly machine: string | null;
  readonly phase: string;
  readonly machines?: readonly string[];
}

/** "db failed at health", or "the build (web, db) failed" when no single machine failed. */
export function failedWhere(failure: FailureLike): string {
  return failure.machine === null
    ? `${theBuild(failure)} failed`
    : `${failure.machine} failed at ${failure.phase}`;
}

/** "the build", naming the machines whose systems did not build when they are known. */
export function theBuild(failure: FailureLike): string {
  const machines = failure.machines ?? [];
  return `the ${failure.phase}${machines.length > 0 ? ` (${machines.join(', ')})` : ''}`;
}

/** The order outcomes are listed in. */
const OUTCOME_ORDER: readonly MachineOutcome[] = [
  'rebooted',
  'deployed',
  'rolled back',
  'healthy',
  'unhealthy',
  'failed',
  'unknown',
  'not built',
  'skipped',
  'not touched',
];

/**
 * What became of the machines, e.g. "; rebooted: app; not touched: media". A run that succeeded
 * says only what it skipped; the machine named by the failure is not named again as failed.
 */
export function outcomeSummary(event: Extract<RunEvent, { type: 'run.finished' }>): string {
  // Events written before `outcomes` existed carry `pending` only.
  const outcomes =
    event.outcomes ?? event.pending.map((machine) => ({ machine, outcome: 'not touched' as const }));
  const groups = OUTCOME_ORDER.flatMap((outcome) => {
    if (event.status === 'succeeded' && outcome !== 'skipped') return [];
    const machines = outcomes.filter((entry) => entry.outcome === outcome).map((entry) => entry.machine);
    if (machines.length === 0) return [];
    if (outcome === 'failed' && machines.length === 1 && machines[0] === event.failure?.machine) return [];
    if (outcome === 'not built' && event.failure?.machines) return []; // named by the failure
    return [`${outcome}: ${machines.join(', ')}`];
  });
  return groups.map((group) => `; ${group}`).join('');
}

/** "nothing new starts; db is seen to the end first" (run.cancelling). */
export function cancellingText(event: Extract<RunEvent, { type: 'run.cancelling' }>): string {
  return (
    `nothing new starts; ${event.finishing.join(', ')} ` +
    `${event.finishing.length === 1 ? 'is' : 'are'} seen to the end first`
  );
}
