import { randomUUID } from 'node:crypto';
import type { MachineSystems, SwitchAction } from '../domain/deploy/deploy-host.js';
import type { RollbackCheck } from '../domain/deploy/rollback-check.js';
import type { CheckResult, MachineHealth } from '../domain/health/check-result.js';
import type { DeployStrategy, Machine } from '../domain/inventory/schema.js';
import type { DeployStep } from '../domain/planner/deploy-steps.js';
import type { Plan } from '../domain/planner/plan.js';
import type { PowerAction } from '../domain/power/power-steps.js';
import type { MaintenanceWindow } from '../domain/schedule/maintenance-window.js';
import type { Phase } from './run-events.js';
import type { Approval, Halt } from './run-flow.js';

/**
 * A run as plain, JSON-serialisable data, the same envelope for every kind: the plan, the
 * metadata it was made from, and every machine's progress. The engine (run-engine.ts) advances
 * it; a driver checkpoints it after each change, so a run resumes where it stood. States written
 * by the previous version (version 1) are upgraded by readRunState (run-state-upgrade.ts).
 */

export type RunKind = 'reboot' | 'deploy' | 'health' | 'power';

/**
 * `halted`: a step failed and the run waits for an operator to retry, skip or abort.
 * `aborted`: a halted run that an operator aborted, or that nobody decided on in time.
 */
export type RunStatus = 'pending' | 'running' | 'halted' | 'succeeded' | 'failed' | 'cancelled' | 'aborted';

/** Whether a run is over; the one place that says so. */
export const isRunDone = (status: RunStatus): boolean =>
  status === 'succeeded' || status === 'failed' || status === 'cancelled' || status === 'aborted';

/** One object of settings for every kind; each kind uses what it needs. */
export interface RunSettings {
  /** Seconds a machine may take to come back with a new boot id (default 600). */
  readonly rebootTimeout: number;
  /** Seconds its health checks may take to turn green (after a reboot, an activation; default 300). */
  readonly healthTimeout: number;
  /** Seconds the checks must then stay green after a reboot (default 0: no stability window). */
  readonly stabilityWindow: number;
  /** The reboot command, as argv (default `systemctl reboot`); each word is quoted. */
  readonly rebootCommand: readonly string[];
  /** Criticality levels whose machines need an approval (or confirmation) before they are touched. */
  readonly confirmLevels: readonly Machine['criticalityLevel'][];
  /**
   * Maintenance windows (window-gate.ts): `inside`: a machine's reboot or activation starts only
   * inside its window (scheduled runs, --in-window); `forced`: at once, windows or not
   * (--force-window); absent: at any time.
   */
  readonly window?: 'inside' | 'forced';
  /** The global window (LAB_MAINTENANCE_WINDOW) when the run was asked for; machines' own come first. */
  readonly maintenanceWindow?: MaintenanceWindow | null;
}

/** The reboot settings a run gets unless told otherwise (deploys: confirmLevels none). */
export const defaultRebootSettings: RunSettings = {
  rebootTimeout: 600,
  healthTimeout: 300,
  stabilityWindow: 0,
  rebootCommand: ['systemctl', 'reboot'],
  confirmLevels: ['high', 'critical'],
};
/** Before the one settings object existed: the reboot run's settings under their old name. */
export type RebootSettings = RunSettings;

/** The machines of one step; deploy steps also name their strategy. */
export interface RunStep {
  readonly machines: readonly string[];
  readonly strategy?: DeployStrategy;
}

/** Where a machine's approval stands: the one approval model of every kind. */
export interface MachineApproval {
  /** Approved (or confirmed at a terminal): it may be touched. */
  approved: boolean;
  /** Who approved it (empty when approved at a terminal, or when no approver was needed). */
  approvals: Approval[];
  /** When it was first asked for and when it was given (epoch ms): the wait for people. */
  askedAt: number | null;
  approvedAt: number | null;
}

/** Where one machine is. The common part, then each kind's own fields (absent for the others). */
export interface MachineProgress {
  /** A key of the kind's phase table (phases.ts). */
  phase: string;
  approval: MachineApproval;
  startedAt: number | null;
  finishedAt: number | null;
  error: { phase: Phase; reason: string } | null;
  /** Why it was skipped (e.g. --only-needed and no reboot needed, or an operator's skip). */
  skipReason: string | null;
  /** The last health checks seen, for alerts that name the failing check. */
  lastChecks: CheckResult[] | null;

  // Maintenance windows (reboots and deploys; window-gate.ts).
  /** The wait for its window under way: since when, and the opening it waits for (epoch ms). */
  windowWait?: WindowWait | null;
  /** The waits for its window that are over (the run report's 'window' waits). */
  windowWaits?: { from: number; to: number }[];
  /** Who started it outside its window (Start now); null: nobody. */
  windowForcedBy?: string | null;

  // Reboots.
  /** When the rebootDelay ends (epoch ms); kept so a resumed run does not wait again. */
  delayUntil?: number | null;
  bootIdBefore?: string | null;
  rebootSentAt?: number | null;
  bootIdAfter?: string | null;
  /** When it was first seen down after the reboot command, and how long it was down (ms). */
  downAt?: number | null;
  downMs?: number | null;
  /** When its health checks were green after it came back (epoch ms). */
  healthyAt?: number | null;
  /**
   * lab's one automatic power action when it did not come back (procedures/reboot-recovery.ts):
   * saved before lab acts, so a resumed run never acts twice; null until then.
   */
  powerRecovery?: PowerRecovery | null;

  // Deploys.
  /**
   * What the machine ran, its profile (store path and generation) and its boot default, read
   * before anything was activated: exactly what a rollback returns to.
   */
  previous?: MachineSystems | null;
  /** Whether lab added a profile generation (and must remove it on rollback). */
  profileSet?: boolean;
  /** The number of the profile generation lab added (deleted by a rollback); null if none or unknown. */
  createdGeneration?: number | null;
  /**
   * The activation started on the machine (checkpointed before it starts): a resumed run waits
   * for that one (by its id) instead of starting another. Cleared once it is done.
   */
  activation?: Activation | null;
  /**
   * A rollback under way: the steps left, the first one in progress. Checkpointed step by step, so
   * that a run resumed after a crash finishes it, repeating nothing (its activation by its id).
   */
  rollbackSteps?: RollbackStep[] | null;
  /** How the rollback ended, and what lab read back on the machine to say so. */
  rollback?: RollbackOutcome | null;

  // Health runs.
  /** The machine's health checks, once checked. */
  result?: MachineHealth | null;

  // Power runs.
  /**
   * When the power action began (epoch ms): saved before lab acts, so that a run resumed after a
   * crash never acts a second time.
   */
  powerStartedAt?: number | null;
}

/** A reboot's automatic power recovery (see MachineProgress.powerRecovery). */
export interface PowerRecovery {
  /** When lab began it (epoch ms): saved before the last probe and the power action. */
  readonly startedAt: number;
  /** Why: the machine did not come back within its reboot timeout (the timeout's message). */
  readonly reason: string;
  /** When it ended (epoch ms); null while under way, or when the run was interrupted meanwhile. */
  endedAt: number | null;
  /** The power action worked: the machine gets a new deadline from `endedAt` to come back. */
  powered: boolean;
  /** What lab did, in words (recoveryText); null until it ended. */
  text: string | null;
}

/** A machine waiting for its maintenance window. */
export interface WindowWait {
  readonly from: number;
  readonly opensAt: number;
  readonly closesAt: number;
}

/** One switch-to-configuration run on a machine, known by its id. */
export interface Activation {
  readonly id: string;
  readonly action: SwitchAction;
  readonly system: string;
}

/** One step of putting a machine back as it was before the deploy. */
export type RollbackStep =
  /** The profile back on its previous generation, the one lab added deleted. */
  | { readonly kind: 'profile'; readonly generation: number | null; readonly created: number | null }
  /** A previous system's switch-to-configuration. */
  | { readonly kind: 'activate'; readonly system: string; readonly action: SwitchAction }
  /** Read back what runs, the profile and the boot default; health checks. */
  | { readonly kind: 'verify' };

export interface RollbackOutcome {
  /** The machine runs its previous system, its profile and boot default agree (or the boot default is unknown), healthy. */
  readonly ok: boolean;
  /** What failed or disagrees; null when ok. */
  readonly reason: string | null;
  /** What lab read back on the machine; null when the rollback failed before it could look. */
  readonly verified?: RollbackCheck | null;
}

export interface RunState {
  readonly version: 2;
  readonly id: string;
  readonly kind: RunKind;
  readonly flake: string;
  readonly createdAt: number;
  readonly settings: RunSettings;
  readonly steps: readonly RunStep[];
  readonly machines: Readonly<Record<string, Machine>>;
  progress: Record<string, MachineProgress>;
  /** Index of the step being worked on. */
  step: number;
  status: RunStatus;
  /** Set while the run is halted after a failure (with the decisions it allows). */
  halt: Halt | null;
  /**
   * Why the run was cancelled. Set as soon as the cancel is seen: a run that is still seeing
   * the machines it had changed to the end (status still `running`) has it already.
   */
  cancelReason: string | null;
  /** Who aborted the halted run, or that nobody decided in time. */
  abortReason: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** Deploys: machine → the store path of its new system (set once built). */
  systems?: Record<string, string> | null;
  /** Deploys: deployed machines whose new system changes kernel, initrd or modules. */
  needsReboot?: string[];
  /** Power runs: the action (on, off, cycle, status) and who asked for it. */
  power?: { readonly action: PowerAction; readonly by: string };
}

/** A run state of one kind (what the create functions return). */
export type RunStateOf<K extends RunKind> = RunState & { readonly kind: K };
export type RebootRunState = RunStateOf<'reboot'>;
export type DeployRunState = RunStateOf<'deploy'> & {
  systems: Record<string, string> | null;
  needsReboot: string[];
};
export type HealthRunState = RunStateOf<'health'>;
export type PowerRunState = RunStateOf<'power'> & { power: { action: PowerAction; by: string } };

/** The machines of each step, in run order (what run.started and `lab status --json` show). */
export const stepMachines = (state: Pick<RunState, 'steps'>): string[][] =>
  state.steps.map((step) => [...step.machines]);

/** Every machine of the run, in run order. */
export const runMachines = (state: Pick<RunState, 'steps'>): string[] =>
  state.steps.flatMap((step) => step.machines);

/** The machines of the step after the current one (none after the last), to get ready while this one runs. */
export const nextStepMachines = (state: Pick<RunState, 'steps' | 'step' | 'machines'>): Machine[] =>
  (state.steps[state.step + 1]?.machines ?? []).flatMap((name) => state.machines[name] ?? []);

export function newApproval(): MachineApproval {
  return { approved: false, approvals: [], askedAt: null, approvedAt: null };
}

/** A machine's progress before anything happened, with the fields its kind uses. */
export function newProgress(kind: RunKind = 'reboot'): MachineProgress {
  const common = {
    phase: 'pending',
    approval: newApproval(),
    startedAt: null,
    finishedAt: null,
    error: null,
    skipReason: null,
    lastChecks: null,
  };
  if (kind === 'health') return { ...common, result: null };
  const windows = { windowWait: null, windowWaits: [], windowForcedBy: null };
  if (kind === 'power') return { ...common, ...windows, powerStartedAt: null };
  if (kind === 'deploy')
    return {
      ...common,
      ...windows,
      previous: null,
      profileSet: false,
      createdGeneration: null,
      activation: null,
      rollbackSteps: null,
      rollback: null,
    };
  return {
    ...common,
    ...windows,
    delayUntil: null,
    bootIdBefore: null,
    rebootSentAt: null,
    bootIdAfter: null,
    downAt: null,
    downMs: null,
    healthyAt: null,
    powerRecovery: null,
  };
}

function createRun<K extends RunKind>(
  kind: K,
  steps: readonly { machines: readonly Machine[]; strategy?: DeployStrategy }[],
  options: { flake: string; settings?: Partial<RunSettings>; id?: string; now?: number },
  defaults: RunSettings,
): RunStateOf<K> {
  const machines: Record<string, Machine> = {};
  const progress: Record<string, MachineProgress> = {};
  for (const step of steps) {
    for (const machine of step.machines) {
      machines[machine.name] = machine;
      progress[machine.name] = newProgress(kind);
    }
  }
  return {
    version: 2,
    id: options.id ?? randomUUID(),
    kind,
    flake: options.flake,
    createdAt: options.now ?? Date.now(),
    settings: { ...defaults, ...options.settings },
    steps: steps.map((step) => ({
      machines: step.machines.map((machine) => machine.name),
      ...(step.strategy ? { strategy: step.strategy } : {}),
    })),
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

export function createRebootRun(
  plan: Plan,
  options: { flake: string; settings?: Partial<RunSettings>; id?: string; now?: number },
): RebootRunState {
  return createRun('reboot', plan.steps, options, defaultRebootSettings);
}

export function createDeployRun(
  steps: readonly DeployStep[],
  options: { flake: string; settings?: Partial<RunSettings>; id?: string; now?: number },
): DeployRunState {
  const state = createRun('deploy', steps, options, { ...defaultRebootSettings, confirmLevels: [] });
  return { ...state, systems: null, needsReboot: [] };
}

/** A health run: every machine's checks once, all at the same time. Touches nothing. */
export function createHealthRun(
  machines: readonly Machine[],
  options: { flake: string; id?: string; now?: number },
): HealthRunState {
  return createRun('health', [{ machines }], options, { ...defaultRebootSettings, confirmLevels: [] });
}

/**
 * A power run: one power action on one machine, under its lock, with the approvals a reboot of
 * it needs for off and cycle (`confirmLevels`).
 */
export function createPowerRun(
  machine: Machine,
  power: { action: PowerAction; by: string },
  options: { flake: string; settings?: Partial<RunSettings>; id?: string; now?: number },
): PowerRunState {
  const state = createRun('power', [{ machines: [machine] }], options, defaultRebootSettings);
  return { ...state, power: { ...power } };
}

/** Marks machines as skipped before the run starts (e.g. they need no reboot). */
export function skipMachines(state: RunState, reasons: ReadonlyMap<string, string>): void {
  for (const [name, reason] of reasons) {
    const progress = state.progress[name];
    if (progress && progress.phase === 'pending') {
      progress.phase = 'skipped';
      progress.skipReason = reason;
    }
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
  const { downMs, healthyAt, rebootSentAt } = progress;
  const { askedAt, approvedAt } = progress.approval;
  return {
    downMs: downMs ?? null,
    healthyMs: healthyAt && rebootSentAt ? healthyAt - rebootSentAt : null,
    approvalWaitMs: askedAt && approvedAt ? approvedAt - askedAt : null,
  };
}
