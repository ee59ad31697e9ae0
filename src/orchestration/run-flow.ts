import type { CheckResult } from '../domain/health/check-result.js';
import type { Machine } from '../domain/inventory/schema.js';
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

/**
 * How an engine tells a cancel from a park. A cancel stops everything that has not begun on a
 * machine, but a machine that was already changed (its reboot command sent, its activation
 * started) is seen to the end of its procedure first: lab never leaves a machine half-way and
 * unverified. A park (the worker shuts down, another worker took the run over) stops everything
 * at once; the run is resumed later, where it stood.
 *
 * `beforeChange` aborts on either (wait on it until a machine is changed); `afterChange` only on
 * a park (wait on it once the machine was changed).
 */
export class RunStops {
  private readonly soft = new AbortController();
  private readonly hard = new AbortController();
  private cancelled: RunCancelled | null = null;
  private readonly onOuter: () => void;

  /**
   * @param outer the driver's signal: aborted with RunCancelled (a cancel) or RunParked (a park).
   * @param cancelReason a cancel already decided (a resumed run that was being cancelled).
   * @param onCancel called once, when the run is first cancelled.
   */
  constructor(
    private readonly outer: AbortSignal | undefined,
    cancelReason: string | null,
    private readonly onCancel: (stop: RunCancelled) => void = () => {},
  ) {
    if (cancelReason !== null) {
      this.cancelled = new RunCancelled(cancelReason);
      this.soft.abort(this.cancelled);
    }
    this.onOuter = () => this.stop(stopFor(outer as AbortSignal));
    if (outer?.aborted) this.onOuter();
    else outer?.addEventListener('abort', this.onOuter, { once: true });
  }

  get beforeChange(): AbortSignal {
    return this.soft.signal;
  }

  get afterChange(): AbortSignal {
    return this.hard.signal;
  }

  /** The cancel in force, if the run is being cancelled. */
  get cancel(): RunCancelled | null {
    return this.cancelled;
  }

  /** The park in force, if the run must stop at once. */
  get park(): RunParked | null {
    return this.hard.signal.aborted ? (this.hard.signal.reason as RunParked) : null;
  }

  /** A cancel (from the driver, a denial, an expired approval) or a park. */
  stop(stop: RunCancelled | RunParked): void {
    if (stop instanceof RunParked) {
      if (!this.hard.signal.aborted) this.hard.abort(stop);
      if (!this.soft.signal.aborted) this.soft.abort(stop);
      return;
    }
    if (this.cancelled) return;
    this.cancelled = stop;
    if (!this.soft.signal.aborted) this.soft.abort(stop);
    this.onCancel(stop);
  }

  dispose(): void {
    this.outer?.removeEventListener('abort', this.onOuter);
  }
}

/** Who approved a step, and when (ISO). */
export interface Approval {
  readonly by: string;
  readonly at: string;
}

/**
 * What an approval port answers for a machine that needs one: approved (by whom), denied (the
 * run is cancelled), or still waiting for approvers until `until` (then it expires). `news`: the
 * wait is new or its approvals changed since it was last announced (the engine then reports it).
 */
export type ApprovalAnswer =
  | { readonly type: 'approved'; readonly approvals: readonly Approval[] }
  | { readonly type: 'denied'; readonly reason: string }
  | {
      readonly type: 'waiting';
      readonly until: number;
      readonly required: number;
      readonly approvals: readonly Approval[];
      readonly news: boolean;
    };

/**
 * Asks whether a machine may be touched (its criticality needs it). `interactive`: someone is
 * asked right now and answers (a terminal prompt): the engine reports machine.waiting
 * (confirmation) first.
 */
export interface ApprovalPort {
  readonly interactive?: boolean;
  request(machine: Machine): Promise<ApprovalAnswer>;
  /** Who asked to start the machine now although its maintenance window is closed (Start now); null: nobody. */
  startNow?(machine: string): Promise<{ readonly by: string } | null>;
}

/** Decisions a halt allows: a failed build has no machine to skip. */
export const decisionsFor = (machine: string | null): readonly Decision[] =>
  machine === null ? ['retry', 'abort'] : ['retry', 'skip', 'abort'];

/** Where a run stands after a failed step, waiting for an operator: retry, skip or abort. */
export interface Halt {
  /** The machine that failed; null when the build failed. */
  readonly machine: string | null;
  /** When the build failed: the machines whose systems did not build. */
  readonly machines?: readonly string[];
  readonly phase: Phase;
  readonly reason: string;
  readonly checks: readonly CheckResult[];
  readonly at: number;
  /** When the run is aborted if nobody decides (epoch ms). */
  readonly expiresAt: number;
  /** What an operator may decide, stored when the run halted. */
  readonly decisions: readonly Decision[];
}

export type Decision = 'retry' | 'skip' | 'abort';
