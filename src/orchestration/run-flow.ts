import type { CheckResult } from '../domain/health/check-result.js';
import type { Phase } from './run-events.js';

/**
 * How a run stops before it is finished. Both travel through an engine as errors and as the
 * reason of its abort signal, so every wait ends at once and nothing is recorded as failed.
 */

/** The run waits for something (a delay, an approval, a machine): resume it at `until`. */
export class RunParked extends Error {
  constructor(
    readonly until: number,
    readonly why: string,
  ) {
    super(`parked until ${new Date(until).toISOString()}: ${why}`);
    this.name = 'RunParked';
  }
}

/** The run is cancelled (by an operator, a denial, an expired approval). */
export class RunCancelled extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'RunCancelled';
  }
}

/** Why an aborted signal stopped the run: a park (e.g. the worker shuts down) or a cancel. */
export function stopFor(signal: AbortSignal): RunParked | RunCancelled {
  const reason: unknown = signal.reason;
  if (reason instanceof RunParked || reason instanceof RunCancelled) return reason;
  return new RunCancelled(typeof reason === 'string' ? reason : 'interrupted');
}

/** Throws the stop if the signal was aborted. */
export function throwIfStopped(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw stopFor(signal);
}

/** Who approved a step, and when (ISO). */
export interface Approval {
  readonly by: string;
  readonly at: string;
}

/** What an approval port answers for a machine that needs one. */
export type ApprovalOutcome =
  | { readonly approved: true; readonly approvals: readonly Approval[] }
  | { readonly approved: false; readonly reason: string };

/** Where a run stands after a failed step, waiting for an operator: retry, skip or abort. */
export interface Halt {
  readonly machine: string | null;
  readonly phase: Phase;
  readonly reason: string;
  readonly checks: readonly CheckResult[];
  readonly at: number;
  /** When the run is aborted if nobody decides (epoch ms). */
  readonly expiresAt: number;
}

export type Decision = 'retry' | 'skip' | 'abort';
