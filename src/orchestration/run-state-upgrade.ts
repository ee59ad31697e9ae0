import type { DeployStrategy } from '../domain/inventory/schema.js';
import { UnknownRunStateError } from '../errors.js';
import { type Decision, decisionsFor, type Halt } from './run-flow.js';
import {
  defaultRebootSettings,
  type MachineApproval,
  type MachineProgress,
  newProgress,
  type RunKind,
  type RunSettings,
  type RunState,
  type RunStep,
} from './run-state.js';

/**
 * Reads a run state from Redis (a job's data), upgrading one written by the previous version
 * (version 1) to the one envelope of version 2, so that a queued, parked or halted run from
 * before resumes. Version 1 had three shapes:
 * - reboot: `steps: string[][]`, progress with `confirmed` + `approvals[]` and
 *   `approvalAskedAt`/`approvedAt`;
 * - deploy: `steps: {strategy, machines}[]`, progress with `approvals: null | Approval[]` (null:
 *   not approved yet) and no `finishedAt`; settings only `healthTimeout` and `confirmLevels`;
 * - health: `steps: string[][]`, `results: machine → MachineHealth`, no progress or settings.
 * Every version 1 halt gets the decisions it allowed (no skip when the build failed). Fields
 * version 1 did not have take newProgress' defaults (a reboot's `powerRecovery`: null, none yet).
 * A state is upgraded in place of nothing: the result is a new object.
 */
export function readRunState(input: unknown): RunState {
  const state = input as Record<string, unknown> | null;
  if (!state || typeof state !== 'object')
    throw new UnknownRunStateError('a run state that is not an object');
  if (state.version === 2) return withNewFields(state as unknown as RunState);
  if (state.version !== 1) throw new UnknownRunStateError(`a run state of version ${String(state.version)}`);
  const v1 = state as unknown as V1State;
  const kind = v1.kind;
  if (kind !== 'reboot' && kind !== 'deploy' && kind !== 'health')
    throw new UnknownRunStateError(`a version 1 run state of kind ${String(kind)}`);
  const steps: RunStep[] = v1.steps.map((step) =>
    Array.isArray(step) ? { machines: [...step] } : { machines: [...step.machines], strategy: step.strategy },
  );
  const progress: Record<string, MachineProgress> = {};
  for (const name of steps.flatMap((step) => step.machines)) {
    if (kind === 'health') progress[name] = healthProgress(v1.results?.[name] ?? null);
    else if (kind === 'reboot') progress[name] = rebootProgress(v1.progress?.[name] as V1RebootProgress);
    else progress[name] = deployProgress(v1.progress?.[name] as V1DeployProgress);
  }
  const settings: RunSettings = {
    ...defaultRebootSettings,
    ...(kind === 'reboot' ? {} : { confirmLevels: [] }),
    ...(v1.settings ?? {}),
  };
  const upgraded: RunState = {
    version: 2,
    id: v1.id,
    kind,
    flake: v1.flake,
    createdAt: v1.createdAt,
    settings,
    steps,
    machines: v1.machines as RunState['machines'],
    progress,
    step: v1.step,
    status: v1.status as RunState['status'],
    halt: v1.halt ? upgradeHalt(v1.halt) : null,
    cancelReason: v1.cancelReason ?? null,
    abortReason: v1.abortReason ?? null,
    startedAt: v1.startedAt ?? null,
    finishedAt: v1.finishedAt ?? null,
  };
  if (kind === 'deploy') {
    upgraded.systems = v1.systems ?? null;
    upgraded.needsReboot = v1.needsReboot ?? [];
  }
  return withNewFields(upgraded);
}

/**
 * A version 2 state written before its later fields existed gets their defaults: the maintenance
 * window fields of reboot and deploy progress (no wait, none waited, nobody forced a start).
 * The same object when nothing is missing.
 */
function withNewFields(state: RunState): RunState {
  if (state.kind === 'health') return state;
  const missing = Object.values(state.progress).some(
    (progress) => progress.windowWaits === undefined || progress.windowWait === undefined,
  );
  if (!missing) return state;
  const progress: Record<string, MachineProgress> = {};
  for (const [name, entry] of Object.entries(state.progress))
    progress[name] = {
      ...entry,
      windowWait: entry.windowWait ?? null,
      windowWaits: entry.windowWaits ?? [],
      windowForcedBy: entry.windowForcedBy ?? null,
    };
  return { ...state, progress };
}

function upgradeHalt(halt: Omit<Halt, 'decisions'> & { decisions?: readonly Decision[] }): Halt {
  return { ...halt, decisions: halt.decisions ?? decisionsFor(halt.machine) };
}

function approval(
  approved: boolean,
  approvals: MachineApproval['approvals'],
  askedAt?: number | null,
  approvedAt?: number | null,
): MachineApproval {
  return { approved, approvals: [...approvals], askedAt: askedAt ?? null, approvedAt: approvedAt ?? null };
}

function rebootProgress(old: V1RebootProgress | undefined): MachineProgress {
  if (!old) return newProgress('reboot');
  const { confirmed, approvals, approvalAskedAt, approvedAt, ...rest } = old;
  return {
    ...newProgress('reboot'),
    ...rest,
    approval: approval(confirmed === true, approvals ?? [], approvalAskedAt, approvedAt),
  };
}

function deployProgress(old: V1DeployProgress | undefined): MachineProgress {
  if (!old) return newProgress('deploy');
  const { approvals, ...rest } = old;
  return {
    ...newProgress('deploy'),
    ...rest,
    // A deploy recorded no times of its approval; null approvals: not approved (or not needed).
    approval: approval(approvals !== null && approvals !== undefined, approvals ?? []),
    finishedAt: null,
  };
}

function healthProgress(result: MachineProgress['result']): MachineProgress {
  const progress = newProgress('health');
  if (!result) return progress;
  const failing = result.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.error}`);
  return {
    ...progress,
    phase: result.ok ? 'healthy' : 'unhealthy',
    result,
    error: result.ok ? null : { phase: 'health', reason: failing.join('; ') || 'unreachable' },
  };
}

/** The fields of a version 1 state that the upgrade reads (see readRunState). */
interface V1State {
  version: 1;
  id: string;
  kind: RunKind;
  flake: string;
  createdAt: number;
  settings?: Partial<RunSettings>;
  steps: (string[] | { strategy: DeployStrategy; machines: string[] })[];
  machines: Record<string, unknown>;
  progress?: Record<string, unknown>;
  results?: Record<string, NonNullable<MachineProgress['result']>>;
  systems?: Record<string, string> | null;
  needsReboot?: string[];
  step: number;
  status: string;
  halt: (Omit<Halt, 'decisions'> & { decisions?: readonly Decision[] }) | null;
  cancelReason: string | null;
  abortReason?: string | null;
  startedAt: number | null;
  finishedAt: number | null;
}

type V1RebootProgress = Omit<MachineProgress, 'approval'> & {
  confirmed: boolean;
  approvals: MachineApproval['approvals'];
  approvalAskedAt?: number | null;
  approvedAt?: number | null;
};

type V1DeployProgress = Omit<MachineProgress, 'approval' | 'finishedAt'> & {
  approvals: MachineApproval['approvals'] | null;
};
