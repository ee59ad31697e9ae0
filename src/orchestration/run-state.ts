import { randomUUID } from 'node:crypto';
import type { CheckResult } from '../domain/health/check-result.js';
import type { Machine } from '../domain/inventory/schema.js';
import type { Plan } from '../domain/planner/plan.js';
import type { MachineOutcome, RebootPhase } from './run-events.js';
import type { Approval, Halt } from './run-flow.js';

/** Where one machine is in its reboot. Persisted after every change, so a run can resume. */
export type MachinePhase =
  | 'pending'
  | 'delay'
  | 'confirmation'
  | 'rebooting'
  | 'coming-back'
  | 'health'
  | 'stability'
  | 'succeeded'
  | 'failed'
  | 'skipped';

export interface MachineProgress {
  phase: MachinePhase;
  /** When the rebootDelay ends (epoch ms); kept so a resumed run does not wait again. */
  delayUntil: number | null;
  confirmed: boolean;
  /** Who approved its reboot (empty when approved at a terminal or when none was needed). */
  approvals: Approval[];
  bootIdBefore: string | null;
  rebootSentAt: number | null;
  bootIdAfter: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  error: { phase: RebootPhase; reason: string } | null;
  /** Why it was skipped (e.g. --only-needed and no reboot needed). */
  skipReason: string | null;
  /** The last health checks seen, for alerts that name the failing check. */
  lastChecks: CheckResult[] | null;
  /**
   * When its approval (or confirmation) was first asked for and when it was given (epoch ms):
   * the wait for people, told apart from the reboot itself. Absent in runs checkpointed before.
   */
  approvalAskedAt?: number | null;
  approvedAt?: number | null;
  /** When it was first seen down after the reboot command, and how long it was down (ms). */
  downAt?: number | null;
  downMs?: number | null;
  /** When its health checks were green after it came back (epoch ms). */
  healthyAt?: number | null;
}

export interface RebootSettings {
  /** Seconds a machine may take to come back with a new boot id (default 600). */
  readonly rebootTimeout: number;
  /** Seconds its health checks may take to turn green after it is back (default 300). */
  readonly healthTimeout: number;
  /** Seconds the checks must then stay green (default 0: no stability window). */
  readonly stabilityWindow: number;
  /** The reboot command, as argv (default `systemctl reboot`); each word is quoted. */
  readonly rebootCommand: readonly string[];
  /** Criticality levels that need a confirmation before the reboot. */
  readonly confirmLevels: readonly Machine['criticalityLevel'][];
}

export const defaultRebootSettings: RebootSettings = {
  rebootTimeout: 600,
  healthTimeout: 300,
  stabilityWindow: 0,
  rebootCommand: ['systemctl', 'reboot'],
  confirmLevels: ['high', 'critical'],
};

/**
 * `halted`: a step failed and the run waits for an operator to retry, skip or abort.
 * `aborted`: a halted run that an operator aborted, or that nobody decided on in time.
 */
export type RunStatus = 'pending' | 'running' | 'halted' | 'succeeded' | 'failed' | 'cancelled' | 'aborted';

export const isRunDone = (status: RunStatus): boolean =>
  status === 'succeeded' || status === 'failed' || status === 'cancelled' || status === 'aborted';

/**
 * A reboot run as plain, JSON-serialisable data: the plan, the metadata it was made from, and
 * every machine's progress. The engine advances it; a driver checkpoints it after each change.
 */
export interface RebootRunState {
  readonly version: 1;
  readonly id: string;
  readonly kind: 'reboot';
  readonly flake: string;
  readonly createdAt: number;
  readonly settings: RebootSettings;
  readonly steps: readonly (readonly string[])[];
  readonly machines: Readonly<Record<string, Machine>>;
  progress: Record<string, MachineProgress>;
  /** Index of the step being worked on. */
  step: number;
  status: RunStatus;
  /** Set while the run is halted after a failure. */
  halt: Halt | null;
  /**
   * Why the run was cancelled. Set as soon as the cancel is seen: a run that is still seeing
   * the machines it had changed to the end (status still `running`) has it already.
   */
  cancelReason: string | null;
  /** Who aborted the halted run, or that nobody decided in time (absent in older states). */
  abortReason?: string | null;
  startedAt: number | null;
  finishedAt: number | null;
}

export function newProgress(): MachineProgress {
  return {
    phase: 'pending',
    delayUntil: null,
    confirmed: false,
    approvals: [],
    bootIdBefore: null,
    rebootSentAt: null,
    bootIdAfter: null,
    startedAt: null,
    finishedAt: null,
    error: null,
    skipReason: null,
    lastChecks: null,
    approvalAskedAt: null,
    approvedAt: null,
    downAt: null,
    downMs: null,
    healthyAt: null,
  };
}

export function createRebootRun(
  plan: Plan,
  options: { flake: string; settings?: Partial<RebootSettings>; id?: string; now?: number },
): RebootRunState {
  const machines: Record<string, Machine> = {};
  const progress: Record<string, MachineProgress> = {};
  for (const step of plan.steps) {
    for (const machine of step.machines) {
      machines[machine.name] = machine;
      progress[machine.name] = newProgress();
    }
  }
  return {
    version: 1,
    id: options.id ?? randomUUID(),
    kind: 'reboot',
    flake: options.flake,
    createdAt: options.now ?? Date.now(),
    settings: { ...defaultRebootSettings, ...options.settings },
    steps: plan.steps.map((step) => step.machines.map((machine) => machine.name)),
    machines,
    progress,
    step: 0,
    status: 'pending',
    halt: null,
    cancelReason: null,
    abortReason: null,
    startedAt: null,
    finishedAt: null,
  };
}

/** Marks machines as skipped before the run starts (e.g. they need no reboot). */
export function skipMachines(state: RebootRunState, reasons: ReadonlyMap<string, string>): void {
  for (const [name, reason] of reasons) {
    const progress = state.progress[name];
    if (progress && progress.phase === 'pending') {
      progress.phase = 'skipped';
      progress.skipReason = reason;
    }
  }
}

export const isFinished = (phase: MachinePhase): boolean =>
  phase === 'succeeded' || phase === 'failed' || phase === 'skipped';

/** Whether the machine's reboot command was (or may have been) sent: from then on it is not "not touched". */
export const rebootSent = (progress: MachineProgress): boolean =>
  progress.rebootSentAt !== null ||
  (progress.phase === 'rebooting' && progress.bootIdBefore !== null) ||
  progress.phase === 'coming-back' ||
  progress.phase === 'health' ||
  progress.phase === 'stability';

/** What became of a machine of a reboot run (see MachineOutcome). */
export function rebootOutcome(progress: MachineProgress): MachineOutcome {
  switch (progress.phase) {
    case 'succeeded':
      return 'rebooted';
    case 'failed':
      return 'failed';
    case 'skipped':
      return 'skipped';
    default:
      return rebootSent(progress) ? 'unknown' : 'not touched';
  }
}

/**
 * The times of a machine's reboot apart from the waits before it (machine.succeeded, the run
 * message): how long it was down, from the reboot command until healthy, and the approval wait.
 */
export function rebootTimesOf(progress: MachineProgress): {
  downMs: number | null;
  healthyMs: number | null;
  approvalWaitMs: number | null;
} {
  const { approvalAskedAt, approvedAt, downMs, healthyAt, rebootSentAt } = progress;
  return {
    downMs: downMs ?? null,
    healthyMs: healthyAt && rebootSentAt ? healthyAt - rebootSentAt : null,
    approvalWaitMs: approvalAskedAt && approvedAt ? approvedAt - approvalAskedAt : null,
  };
}
