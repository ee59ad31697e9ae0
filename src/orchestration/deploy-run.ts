import { randomUUID } from 'node:crypto';
import type { DeployHost, MachineSystems, SwitchAction } from '../domain/deploy/deploy-host.js';
import { BuildError } from '../domain/deploy/errors.js';
import { type RollbackCheck, rollbackCheck, rollbackDisagreements } from '../domain/deploy/rollback-check.js';
import { waitUntilHealthy } from '../domain/health/check-machine.js';
import { type CheckResult, describeUnhealthy, type MachineHealth } from '../domain/health/check-result.js';
import type { DeployStrategy, Machine } from '../domain/inventory/schema.js';
import type { DeployStep } from '../domain/planner/deploy-steps.js';
import {
  type DeployPhase,
  type FinishedStatus,
  type MachineOutcome,
  type RunEventInput,
  type RunEventListener,
  type RunFailure,
  stampEvent,
} from './run-events.js';
import {
  type Approval,
  type ApprovalOutcome,
  type Decision,
  type Halt,
  RunCancelled,
  RunParked,
  RunStops,
  stopFor,
  throwIfStopped,
} from './run-flow.js';
import { isRunDone, type RunStatus } from './run-state.js';

export type DeployMachinePhase =
  | 'pending'
  | 'copying'
  | 'activating'
  | 'health'
  | 'committing'
  | 'succeeded'
  | 'failed'
  | 'skipped';

export interface DeployProgress {
  phase: DeployMachinePhase;
  /** Who approved the deploy to it, when its criticality needs approval. */
  approvals: Approval[] | null;
  /**
   * What the machine ran, its profile (store path and generation) and its boot default, read
   * before anything was activated: exactly what a rollback returns to.
   */
  previous: MachineSystems | null;
  /** Whether lab added a profile generation (and must remove it on rollback). */
  profileSet: boolean;
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
  startedAt: number | null;
  error: { phase: DeployPhase; reason: string } | null;
  /** How the rollback ended, and what lab read back on the machine to say so. */
  rollback: RollbackOutcome | null;
  skipReason: string | null;
  /** The last health checks seen, for alerts that name the failing check. */
  lastChecks: CheckResult[] | null;
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

export interface DeploySettings {
  /** Seconds the checks may take to turn green after activation (default 300). */
  readonly healthTimeout: number;
  /** Criticality levels whose machines need an approval before they are touched (default none). */
  readonly confirmLevels: readonly Machine['criticalityLevel'][];
}

/** A deploy run as plain, JSON-serialisable data, like the reboot run's. */
export interface DeployRunState {
  readonly version: 1;
  readonly id: string;
  readonly kind: 'deploy';
  readonly flake: string;
  readonly createdAt: number;
  readonly settings: DeploySettings;
  readonly steps: readonly { readonly strategy: DeployStrategy; readonly machines: readonly string[] }[];
  readonly machines: Readonly<Record<string, Machine>>;
  /** machine → the store path of its new system (set once built). */
  systems: Record<string, string> | null;
  progress: Record<string, DeployProgress>;
  step: number;
  status: RunStatus;
  halt: Halt | null;
  /** Why the run was cancelled; set as soon as the cancel is seen (see RebootRunState). */
  cancelReason: string | null;
  /** Who aborted the halted run, or that nobody decided in time (absent in older states). */
  abortReason?: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** Deployed machines whose new system changes kernel, initrd or modules. */
  needsReboot: string[];
}

export function createDeployRun(
  steps: readonly DeployStep[],
  options: { flake: string; settings?: Partial<DeploySettings>; id?: string },
): DeployRunState {
  const machines: Record<string, Machine> = {};
  const progress: Record<string, DeployProgress> = {};
  for (const step of steps) {
    for (const machine of step.machines) {
      machines[machine.name] = machine;
      progress[machine.name] = newDeployProgress();
    }
  }
  return {
    version: 1,
    id: options.id ?? randomUUID(),
    kind: 'deploy',
    flake: options.flake,
    createdAt: Date.now(),
    settings: { healthTimeout: 300, confirmLevels: [], ...options.settings },
    steps: steps.map((step) => ({
      strategy: step.strategy,
      machines: step.machines.map((machine) => machine.name),
    })),
    machines,
    systems: null,
    progress,
    step: 0,
    status: 'pending',
    halt: null,
    cancelReason: null,
    abortReason: null,
    startedAt: null,
    finishedAt: null,
    needsReboot: [],
  };
}

export function newDeployProgress(): DeployProgress {
  return {
    phase: 'pending',
    approvals: null,
    previous: null,
    profileSet: false,
    createdGeneration: null,
    activation: null,
    rollbackSteps: null,
    startedAt: null,
    error: null,
    rollback: null,
    skipReason: null,
    lastChecks: null,
  };
}

export interface DeployRunPorts {
  readonly host: DeployHost;
  /**
   * Builds every machine's system before any machine is touched: machine → store path. A
   * BuildError with `failures` names the machines whose systems did not build.
   */
  readonly build: (machines: readonly string[], signal?: AbortSignal) => Promise<Map<string, string>>;
  readonly checkpoint?: (state: DeployRunState) => void | Promise<void>;
  readonly healthIntervalMs?: number;
  /** Asks for the approval of machines whose criticality is in settings.confirmLevels. */
  readonly confirm?: (machine: Machine) => Promise<ApprovalOutcome>;
  /** When set, a failed step halts the run for at most this long (see RebootRunPorts). */
  readonly haltForMs?: number;
}

class DeployFailure extends Error {
  constructor(
    readonly phase: DeployPhase,
    reason: string,
  ) {
    super(reason);
  }
}

const settled = (phase: DeployMachinePhase): boolean =>
  phase === 'succeeded' || phase === 'failed' || phase === 'skipped';

/** Whether an activation (or the profile) was started on the machine: from then on it is changed. */
const activationStarted = (progress: DeployProgress): boolean =>
  progress.phase === 'health' ||
  progress.phase === 'committing' ||
  (progress.phase === 'activating' && (progress.activation != null || progress.profileSet));

/** What became of a machine of a deploy run (see MachineOutcome). */
export function deployOutcome(progress: DeployProgress): MachineOutcome {
  switch (progress.phase) {
    case 'succeeded':
      return 'deployed';
    case 'failed':
      return progress.rollback?.ok ? 'rolled back' : 'failed';
    case 'skipped':
      return 'skipped';
    default:
      if (activationStarted(progress)) return 'unknown';
      return progress.error?.phase === 'build' ? 'not built' : 'not touched';
  }
}

/**
 * Carries out a deploy: build everything, then step by step — rolling: copy, set profile and
 * switch, health-gate; blue-green: copy, `test`, health-gate, then set profile and switch;
 * recreate: the step's machines at once, checked together. A machine that fails is rolled back
 * (profile and running system) and checked again; the run halts there. A cancel activates
 * nothing more, but a machine whose activation had started is seen to its end (health-gated,
 * committed or rolled back) before the run ends as cancelled. A resumed run
 * reconciles with the machine: a profile already set is not set again, and an activation
 * started before the run was interrupted is waited for (by its id), not started again.
 */
export class DeployRun {
  private readonly listeners: RunEventListener[] = [];
  /** Set when run() picks up a state that was already running: the profile is reconciled. */
  private resumed = false;
  /** Machines whose activation this process has begun (before the state records it). */
  private readonly changing = new Set<string>();

  constructor(
    readonly state: DeployRunState,
    private readonly ports: DeployRunPorts,
  ) {}

  on(listener: RunEventListener): this {
    this.listeners.push(listener);
    return this;
  }

  /** Runs (or resumes) to the end or a halt; rejects with RunParked when parked (state saved). */
  async run(signal?: AbortSignal): Promise<DeployRunState> {
    const { state } = this;
    if (isRunDone(state.status) || state.status === 'halted') return state;
    this.resumed = state.status === 'running';
    if (state.status === 'pending') {
      if (state.cancelReason !== null) return this.finish('cancelled', null, state.cancelReason);
      state.status = 'running';
      state.startedAt = Date.now();
      this.report({ type: 'run.started', kind: 'deploy', steps: state.steps.map((step) => step.machines) });
      await this.save();
    }
    const stops = new RunStops(signal, state.cancelReason, (stop) => this.cancelling(stop.reason));
    try {
      if (state.systems === null) {
        throwIfStopped(stops.beforeChange);
        const names = state.steps.flatMap((step) => step.machines);
        this.report({ type: 'deploy.building', machines: names });
        try {
          state.systems = Object.fromEntries(await this.ports.build(names, stops.beforeChange));
        } catch (error) {
          if (stops.beforeChange.aborted) throw stopFor(stops.beforeChange);
          return await this.buildFailed(error as Error);
        }
        this.report({ type: 'deploy.built', systems: state.systems });
        await this.save();
      }
      while (state.step < state.steps.length) {
        // Stopped: only machines whose activation had started are still worked on.
        if (stops.beforeChange.aborted && this.inFlight().length === 0) throw stopFor(stops.beforeChange);
        const step = state.steps[state.step] as DeployRunState['steps'][number];
        this.report({ type: 'step.started', step: state.step + 1, machines: step.machines });
        const machines = step.machines.map((name) => state.machines[name] as Machine);
        for (const machine of machines) await this.approve(machine, stops);
        if (step.strategy === 'recreate') await this.deployTogether(machines, stops);
        else {
          const results = await Promise.all(
            machines.map((machine) => settle(() => this.deployOne(machine, step.strategy, stops))),
          );
          if (stops.park) throw stops.park;
          const stop = results.find((error) => error !== null);
          if (stop) throw stop;
        }
        if (stops.park) throw stops.park;
        if (stops.cancel) throw stops.cancel;
        const failed = step.machines.find((name) => this.progress(name).phase === 'failed');
        if (failed) {
          this.report({ type: 'step.finished', step: state.step + 1, ok: false });
          const error = this.progress(failed).error ?? { phase: 'activation' as const, reason: 'failed' };
          return await this.halted({ machine: failed, ...error });
        }
        this.report({ type: 'step.finished', step: state.step + 1, ok: true });
        state.step += 1;
        await this.save();
      }
      await this.findRebootsNeeded();
      return await this.finish('succeeded', null);
    } catch (error) {
      if (error instanceof RunCancelled) return await this.finish('cancelled', null, error.reason);
      if (error instanceof RunParked) await this.save();
      throw error;
    } finally {
      stops.dispose();
    }
  }

  /**
   * Cancels the run. A pending or halted run ends at once (nothing is in flight); a running one
   * activates nothing more, sees the activations it started to their end, then ends as
   * cancelled. Rejects with RunParked like `run`.
   */
  async cancel(reason: string, signal?: AbortSignal): Promise<DeployRunState> {
    const { state } = this;
    if (isRunDone(state.status)) return state;
    if (state.status !== 'running') {
      const { halt } = state;
      state.halt = null;
      return this.finish('cancelled', halt ? haltFailure(halt) : null, reason);
    }
    if (state.cancelReason === null) this.cancelling(reason);
    return this.run(signal);
  }

  /**
   * The build failed: the machines whose systems did not build are named (each with its reason,
   * as a `machine.failed` of phase build); none was touched. Halts (or fails) the run.
   */
  private async buildFailed(error: Error): Promise<DeployRunState> {
    const failures = error instanceof BuildError ? error.failures : new Map<string, string>();
    for (const [machine, reason] of failures) {
      const progress = this.state.progress[machine];
      if (!progress) continue;
      progress.error = { phase: 'build', reason };
      this.report({ type: 'machine.failed', machine, phase: 'build', reason });
    }
    return this.halted({
      machine: null,
      phase: 'build',
      reason: error.message,
      ...(failures.size > 0 ? { machines: [...failures.keys()] } : {}),
    });
  }

  /** An operator's answer to a halt: retry (from the start, the machine was rolled back), skip, abort. */
  async decide(decision: Decision, by: string): Promise<void> {
    const { state } = this;
    const { halt } = state;
    if (state.status !== 'halted' || !halt) return;
    this.report({ type: 'run.decided', decision, by });
    if (decision === 'abort' || (decision === 'skip' && halt.machine === null)) {
      state.halt = null;
      const what = halt.machine ?? 'the build';
      await this.finish('aborted', haltFailure(halt), `aborted by ${by} after ${what} failed`);
      return;
    }
    if (halt.machine === null) {
      // The build failed: build again.
      state.systems = null;
      for (const progress of Object.values(state.progress))
        if (progress.error?.phase === 'build') progress.error = null;
    }
    for (const name of state.steps[state.step]?.machines ?? []) {
      const progress = this.progress(name);
      if (progress.phase !== 'failed' || !progress.error) continue;
      if (decision === 'skip') {
        progress.phase = 'skipped';
        progress.skipReason = `skipped by ${by} after failing at ${progress.error.phase}: ${progress.error.reason}`;
        this.report({ type: 'machine.skipped', machine: name, reason: progress.skipReason });
      } else {
        state.progress[name] = { ...newDeployProgress(), approvals: progress.approvals };
      }
    }
    state.halt = null;
    state.status = 'running';
    await this.save();
  }

  /** Finishes the run now: an internal error (failed), a halt nobody decided on (aborted). */
  async end(status: 'failed' | 'cancelled' | 'aborted', reason: string): Promise<DeployRunState> {
    if (isRunDone(this.state.status)) return this.state;
    const halt = this.state.halt;
    this.state.halt = null;
    return this.finish(status, halt ? haltFailure(halt) : null, reason);
  }

  report(event: RunEventInput): void {
    const stamped = stampEvent(event, this.state.id, this.state.startedAt);
    for (const listener of this.listeners) listener(stamped);
  }

  /** A machine whose criticality needs it is approved before anything of it is touched. */
  private async approve(machine: Machine, stops: RunStops): Promise<void> {
    const progress = this.progress(machine.name);
    if (progress.phase !== 'pending' || progress.approvals !== null) return;
    if (stops.beforeChange.aborted) return; // it will not be touched
    if (!this.state.settings.confirmLevels.includes(machine.criticalityLevel) || !this.ports.confirm) return;
    const outcome = await this.ports.confirm(machine);
    if (!outcome.approved) {
      stops.stop(new RunCancelled(outcome.reason));
      return;
    }
    progress.approvals = [...outcome.approvals];
    this.report({ type: 'machine.confirmed', machine: machine.name, approvals: outcome.approvals });
    await this.save();
  }

  /** One rolling or blue-green machine. */
  private async deployOne(machine: Machine, strategy: DeployStrategy, stops: RunStops): Promise<void> {
    const progress = this.progress(machine.name);
    if (progress.phase === 'failed') return this.rollBack(machine, stops.afterChange); // one a crash interrupted
    if (settled(progress.phase)) return;
    throwIfStopped(activationStarted(progress) ? stops.afterChange : stops.beforeChange);
    progress.startedAt ??= Date.now();
    try {
      await this.prepare(machine, stops.beforeChange);
      const system = this.system(machine.name);
      if (strategy === 'blue-green') {
        // `test` persists nothing; once its gate passed, the tested system becomes the profile and
        // the boot default (`boot`), without activating it a second time.
        await this.activate(machine, system, 'test', stops.beforeChange);
        await this.gate(machine, stops.afterChange);
        if (progress.phase === 'health') await this.checkpoint(machine, 'committing');
        await this.commit(machine, system, 'boot', stops.beforeChange);
      } else {
        await this.commit(machine, system, 'switch', stops.beforeChange);
        await this.gate(machine, stops.afterChange);
      }
      await this.succeed(machine);
    } catch (error) {
      if (error instanceof RunParked || error instanceof RunCancelled) throw error;
      await this.fail(machine, error, stops.afterChange);
    }
  }

  /** A stage's recreate machines: all switch at once, then are checked together. */
  private async deployTogether(machines: readonly Machine[], stops: RunStops): Promise<void> {
    const failed = machines.filter((machine) => this.progress(machine.name).phase === 'failed');
    const pending = machines.filter((machine) => !settled(this.progress(machine.name).phase));
    if (failed.length > 0) {
      // A crash interrupted the group's rollback: finish it, the whole group goes back.
      await Promise.all([
        ...failed.map((machine) => this.rollBack(machine, stops.afterChange)),
        ...pending.map((machine) =>
          this.fail(
            machine,
            new DeployFailure('health', 'rolled back with its recreate group'),
            stops.afterChange,
          ),
        ),
      ]);
      return;
    }
    for (const machine of pending) this.progress(machine.name).startedAt ??= Date.now();
    const errors = await Promise.all(
      pending.map((machine) =>
        settle(async () => {
          const progress = this.progress(machine.name);
          throwIfStopped(activationStarted(progress) ? stops.afterChange : stops.beforeChange);
          await this.prepare(machine, stops.beforeChange);
          await this.commit(machine, this.system(machine.name), 'switch', stops.beforeChange);
          await this.gate(machine, stops.afterChange);
        }),
      ),
    );
    const park = stops.park ?? errors.find((error) => error instanceof RunParked);
    if (park) throw park;
    // A cancel stopped those not activated yet; those activated are seen to the end together.
    const cancel = errors.find((error) => error instanceof RunCancelled);
    const went = pending
      .map((machine, index) => ({ machine, error: errors[index] }))
      .filter(({ error }) => !(error instanceof RunCancelled));
    if (went.every(({ error }) => error === null)) {
      for (const { machine } of went) await this.succeed(machine);
    } else {
      // One failed: the whole group goes back, as it came together.
      await Promise.all(
        went.map(({ machine, error }) =>
          this.fail(
            machine,
            error ?? new DeployFailure('health', 'rolled back with its recreate group'),
            stops.afterChange,
          ),
        ),
      );
    }
    if (cancel) throw cancel;
  }

  /** Reads what runs now (for rollback) and copies the new system over. */
  private async prepare(machine: Machine, signal: AbortSignal): Promise<void> {
    const progress = this.progress(machine.name);
    const system = this.system(machine.name);
    if (progress.phase === 'pending') {
      throwIfStopped(signal);
      progress.previous ??= await phase('copy', this.ports.host.systems(machine));
      await this.checkpoint(machine, 'copying');
    }
    if (progress.phase === 'copying') {
      throwIfStopped(signal);
      this.report({ type: 'machine.copying', machine: machine.name, system });
      await phase('copy', this.ports.host.copy(machine, system));
      await this.checkpoint(machine, 'activating');
    }
  }

  private async activate(
    machine: Machine,
    system: string,
    action: 'test',
    signal: AbortSignal,
  ): Promise<void> {
    const progress = this.progress(machine.name);
    if (progress.phase !== 'activating') return;
    // Stopped before anything was activated: the machine is not touched.
    if (!activationStarted(progress)) throwIfStopped(signal);
    this.changing.add(machine.name);
    if (!this.started(progress, system, action)) {
      this.report({ type: 'machine.activating', machine: machine.name, action, system });
    }
    await this.switchOnce(machine, system, action, 'activation');
    await this.checkpoint(machine, 'health');
  }

  /**
   * The new system becomes the profile's generation and what boots: with `switch` (rolling,
   * recreate) it also runs now; with `boot` (blue-green's commit, after `test` passed its gate) it
   * becomes the boot default without being activated again.
   */
  private async commit(
    machine: Machine,
    system: string,
    action: 'switch' | 'boot',
    signal: AbortSignal,
  ): Promise<void> {
    const progress = this.progress(machine.name);
    if (progress.phase !== 'activating' && progress.phase !== 'committing') return;
    const where: DeployPhase = progress.phase === 'committing' ? 'commit' : 'activation';
    // Stopped before anything was activated (a resumed run asks the machine): it is not touched.
    if (!activationStarted(progress)) {
      const done = this.resumed ? await this.runs(machine, system) : { current: false, profile: false };
      if (!done.profile && !done.current) throwIfStopped(signal);
    }
    this.changing.add(machine.name);
    if (!this.started(progress, system, action))
      this.report({ type: 'machine.activating', machine: machine.name, action, system });
    await this.setProfileOnce(machine, system, where);
    await this.switchOnce(machine, system, action, where);
    await this.checkpoint(machine, where === 'commit' ? 'succeeded' : 'health');
  }

  /** Adds the profile generation once: a resumed run reads whether a worker before a crash did. */
  private async setProfileOnce(machine: Machine, system: string, where: DeployPhase): Promise<void> {
    const progress = this.progress(machine.name);
    if (progress.profileSet) return;
    if (this.resumed) {
      const now = await phase(where, this.ports.host.systems(machine));
      const before = progress.previous?.generation ?? null;
      if (now.profile === system && now.generation !== null && now.generation !== before) {
        progress.createdGeneration = now.generation;
        progress.profileSet = true;
        await this.save();
        return;
      }
    }
    progress.createdGeneration = await phase(where, this.ports.host.setProfile(machine, system));
    progress.profileSet = true;
    await this.save();
  }

  /** Whether this activation was already started on the machine (by a worker before a crash). */
  private started(progress: DeployProgress, system: string, action: Activation['action']): boolean {
    const { activation } = progress;
    return activation != null && activation.system === system && activation.action === action;
  }

  /**
   * Runs the activation once: its id is checkpointed before it starts, so a run resumed after a
   * crash waits for the activation that may be running (or reads how it ended) instead of
   * starting a second one. The id is cleared by the checkpoint that moves the machine on (in the
   * same write: a concurrent machine's checkpoint must not save one without the other).
   */
  private async switchOnce(
    machine: Machine,
    system: string,
    action: Activation['action'],
    where: DeployPhase,
  ): Promise<void> {
    const progress = this.progress(machine.name);
    if (!this.started(progress, system, action)) {
      progress.activation = { id: `${this.state.id}-${randomUUID()}`, action, system };
      await this.save();
    }
    const { id } = progress.activation as Activation;
    await phase(where, this.ports.host.switchTo(machine, system, action, id));
  }

  /** Whether the system already runs on the machine and is its profile. */
  private async runs(machine: Machine, system: string): Promise<{ current: boolean; profile: boolean }> {
    const now = await phase('activation', this.ports.host.systems(machine));
    return { current: now.current === system, profile: now.profile === system };
  }

  private async gate(machine: Machine, signal: AbortSignal): Promise<void> {
    if (this.progress(machine.name).phase !== 'health') return;
    const health = await this.waitHealthy(machine, signal);
    if (!health.ok && signal?.aborted) throw stopFor(signal);
    if (!health.ok)
      throw new DeployFailure('health', describeUnhealthy(health, this.state.settings.healthTimeout));
  }

  private async succeed(machine: Machine): Promise<void> {
    const progress = this.progress(machine.name);
    progress.phase = 'succeeded';
    this.report({
      type: 'machine.succeeded',
      machine: machine.name,
      what: 'deployed',
      durationMs: Date.now() - (progress.startedAt ?? Date.now()),
    });
    await this.save();
  }

  /** Records the failure and puts the machine back as it was: profile, running system, boot default. */
  private async fail(machine: Machine, error: unknown, signal?: AbortSignal): Promise<void> {
    const progress = this.progress(machine.name);
    const failedIn: DeployPhase = error instanceof DeployFailure ? error.phase : 'activation';
    // Before 'activating' nothing of the new system was activated or persisted.
    const touched = progress.phase !== 'pending' && progress.phase !== 'copying' && failedIn !== 'copy';
    progress.error = { phase: failedIn, reason: (error as Error).message };
    progress.phase = 'failed';
    const { previous } = progress;
    if (touched && previous?.current != null) {
      progress.rollbackSteps = rollbackSteps(previous, progress);
      progress.activation = null; // the rollback's activations are its own
    }
    this.report({
      type: 'machine.failed',
      machine: machine.name,
      phase: failedIn,
      reason: (error as Error).message,
    });
    await this.save();
    if (!progress.rollbackSteps || !previous?.current) return;
    this.report({
      type: 'machine.rolling-back',
      machine: machine.name,
      to: previous.current,
      generation: previous.generation ?? null,
    });
    await this.rollBack(machine, signal);
  }

  /**
   * Carries out (or, resumed, finishes) the machine's rollback step by step, each checkpointed;
   * then says "rolled back" only if what it reads back agrees with what ran before.
   */
  private async rollBack(machine: Machine, signal?: AbortSignal): Promise<void> {
    const progress = this.progress(machine.name);
    const { previous } = progress;
    if (!previous) return;
    for (let step = progress.rollbackSteps?.[0]; step; step = progress.rollbackSteps?.[0]) {
      try {
        if (step.kind === 'profile') {
          if (step.generation === null)
            throw new Error('lab does not know which profile generation it was on before the deploy');
          await this.ports.host.restoreProfile(machine, step.generation, step.created);
          progress.profileSet = false;
        } else if (step.kind === 'activate') {
          await this.switchOnce(machine, step.system, step.action, 'activation');
        } else {
          await this.verifyRollback(machine, previous, signal);
        }
      } catch (error) {
        progress.rollback = {
          ok: false,
          reason: `${describeStep(step)} failed: ${(error as Error).message}`,
          verified: null,
        };
        progress.rollbackSteps = null;
        progress.activation = null;
        this.report({ type: 'machine.rolled-back', machine: machine.name, ...progress.rollback });
        await this.save();
        return;
      }
      progress.rollbackSteps = progress.rollbackSteps?.slice(1) ?? null;
      if (progress.rollbackSteps?.length === 0) progress.rollbackSteps = null;
      progress.activation = null;
      await this.save();
    }
  }

  /** Health, then what runs, the profile and the boot default, compared with what ran before. */
  private async verifyRollback(
    machine: Machine,
    previous: MachineSystems,
    signal?: AbortSignal,
  ): Promise<void> {
    const progress = this.progress(machine.name);
    const health = await this.waitHealthy(machine, signal);
    const now = await this.ports.host.systems(machine);
    const problems = rollbackDisagreements(previous, now);
    if (!health.ok)
      problems.push(
        signal?.aborted
          ? 'the run was stopped before its health checks passed'
          : `the previous system is back but unhealthy: ${describeUnhealthy(health)}`,
      );
    const verified = rollbackCheck(previous, now, health.ok);
    progress.rollback =
      problems.length === 0
        ? { ok: true, reason: null, verified }
        : { ok: false, reason: problems.join('; '), verified };
    this.report({ type: 'machine.rolled-back', machine: machine.name, ...progress.rollback });
  }

  private async findRebootsNeeded(): Promise<void> {
    const deployed = Object.keys(this.state.progress).filter(
      (name) => this.progress(name).phase === 'succeeded' && !this.state.needsReboot.includes(name),
    );
    for (const name of deployed) {
      try {
        const facts = await this.ports.host.facts(this.state.machines[name] as Machine);
        if (facts.needsReboot) {
          this.state.needsReboot.push(name);
          this.report({ type: 'machine.needs-reboot', machine: name, changed: facts.changed });
        }
      } catch {
        // Not knowing is reported as not needing; the deploy itself succeeded.
      }
    }
    await this.save();
  }

  private waitHealthy(machine: Machine, signal?: AbortSignal): Promise<MachineHealth> {
    return waitUntilHealthy(() => this.ports.host.checkHealth(machine), {
      deadline: Date.now() + this.state.settings.healthTimeout * 1000,
      intervalMs: this.ports.healthIntervalMs,
      signal,
      onChange: (health, attempt) => {
        this.progress(machine.name).lastChecks = [...health.checks];
        this.report({
          type: 'machine.health',
          machine: machine.name,
          ok: health.ok,
          attempt,
          checks: health.checks,
        });
      },
    });
  }

  /** A failure: finish the run as failed, or halt it for an operator's decision. */
  private async halted(failure: {
    machine: string | null;
    phase: DeployPhase;
    reason: string;
  }): Promise<DeployRunState> {
    const { state } = this;
    if (this.ports.haltForMs === undefined) return this.finish('failed', failure);
    const now = Date.now();
    const lastChecks = failure.machine ? (this.progress(failure.machine).lastChecks ?? []) : [];
    const checks = failure.phase === 'health' ? lastChecks.filter((check) => !check.ok) : [];
    state.status = 'halted';
    state.halt = { ...failure, checks, at: now, expiresAt: now + this.ports.haltForMs };
    await this.save();
    this.report({
      type: 'run.halted',
      ...failure,
      checks,
      decisions: failure.machine === null ? ['retry', 'abort'] : ['retry', 'skip', 'abort'],
      expiresAt: new Date(state.halt.expiresAt).toISOString(),
    });
    return state;
  }

  /**
   * The run is being cancelled: recorded (a resumed run goes on cancelling), and announced with
   * the machines whose activation is seen to its end first, if any.
   */
  private cancelling(reason: string): void {
    this.state.cancelReason = reason;
    const finishing = this.inFlight();
    if (finishing.length === 0) return;
    this.save().catch(() => {}); // a save that fails stops the run at its next checkpoint
    this.report({ type: 'run.cancelling', reason, finishing });
  }

  /** The machines of the current step whose activation started and which are not done. */
  private inFlight(): string[] {
    return (this.state.steps[this.state.step]?.machines ?? []).filter((name) => {
      const progress = this.progress(name);
      return (activationStarted(progress) || this.changing.has(name)) && !settled(progress.phase);
    });
  }

  private async finish(
    status: FinishedStatus,
    failure: RunFailure | null,
    reason: string | null = null,
  ): Promise<DeployRunState> {
    const { state } = this;
    state.status = status;
    state.finishedAt = Date.now();
    if (status === 'cancelled') state.cancelReason = reason;
    if (status === 'aborted') state.abortReason = reason;
    const outcomes = state.steps
      .flatMap((step) => step.machines)
      .map((machine) => {
        const outcome = deployOutcome(this.progress(machine));
        const begun = outcome === 'not touched' && this.changing.has(machine);
        return { machine, outcome: begun ? ('unknown' as const) : outcome };
      });
    const pending = outcomes.filter((entry) => isUntouched(entry.outcome));
    await this.save();
    this.report({
      type: 'run.finished',
      status,
      failure: failure ?? this.firstFailure(),
      pending: pending.map((entry) => entry.machine),
      reason,
      outcomes,
    });
    return state;
  }

  private firstFailure(): RunFailure | null {
    for (const name of this.state.steps.flatMap((step) => step.machines)) {
      const { phase, error } = this.progress(name);
      if (phase === 'failed' && error) return { machine: name, ...error };
    }
    return null;
  }

  /** Moves the machine on to its next phase (the activation of the one before is done). */
  private async checkpoint(machine: Machine, next: DeployMachinePhase): Promise<void> {
    const progress = this.progress(machine.name);
    if (progress.phase !== next) progress.activation = null;
    progress.phase = next;
    await this.save();
  }

  private system(name: string): string {
    const system = this.state.systems?.[name];
    if (!system) throw new DeployFailure('build', `no system was built for ${name}`);
    return system;
  }

  private progress(name: string): DeployProgress {
    return this.state.progress[name] as DeployProgress;
  }

  private save(): Promise<void> {
    return Promise.resolve(this.ports.checkpoint?.(this.state));
  }
}

/** Nothing was changed on a machine with this outcome (its system did not build, or it was not reached). */
const isUntouched = (outcome: MachineOutcome): boolean =>
  outcome === 'not touched' || outcome === 'not built';

/** The failure a halt was about, as run.finished reports it. */
function haltFailure(halt: Halt): RunFailure {
  return {
    machine: halt.machine,
    phase: halt.phase,
    reason: halt.reason,
    ...(halt.machines ? { machines: halt.machines } : {}),
  };
}

/**
 * How a failed machine goes back to exactly what ran before (not "the generation below", which
 * after an earlier rollback may be another failed system). Where lab changed the profile (and so
 * the boot loader): the profile back on its generation and lab's generation deleted, then the
 * previous system's `switch`, which installs the boot loader without that entry and with the
 * previous system as default. If what ran differed from the profile, its `boot`, then what ran
 * `test`. Where nothing was persisted (blue-green before its commit): `test` of what ran.
 */
export function rollbackSteps(previous: MachineSystems, progress: DeployProgress): RollbackStep[] {
  const current = previous.current as string;
  if (!progress.profileSet)
    return [{ kind: 'activate', system: current, action: 'test' }, { kind: 'verify' }];
  const profile: RollbackStep = {
    kind: 'profile',
    generation: previous.generation ?? null,
    created: progress.createdGeneration ?? null,
  };
  const activations: RollbackStep[] =
    previous.profile !== null && previous.profile !== current
      ? [
          { kind: 'activate', system: previous.profile, action: 'boot' },
          { kind: 'activate', system: current, action: 'test' },
        ]
      : [{ kind: 'activate', system: current, action: 'switch' }];
  return [profile, ...activations, { kind: 'verify' }];
}

function describeStep(step: RollbackStep): string {
  if (step.kind === 'profile') return `putting its profile back on generation ${step.generation ?? '(none)'}`;
  if (step.kind === 'activate') return `switch-to-configuration ${step.action} of ${step.system}`;
  return 'reading back what it runs';
}

/** Runs the task; resolves with its error instead of rejecting, or null. */
async function settle(task: () => Promise<void>): Promise<unknown> {
  try {
    await task();
    return null;
  } catch (error) {
    return error;
  }
}

async function phase<T>(name: DeployPhase, promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof DeployFailure) throw error;
    throw new DeployFailure(name, (error as Error).message);
  }
}
