import { randomUUID } from 'node:crypto';
import type { DeployHost, MachineSystems } from '../domain/deploy/deploy-host.js';
import { waitUntilHealthy } from '../domain/health/check-machine.js';
import { describeUnhealthy, type MachineHealth } from '../domain/health/check-result.js';
import type { DeployStrategy, Machine } from '../domain/inventory/schema.js';
import type { DeployStep } from '../domain/planner/deploy-steps.js';
import { type DeployPhase, type RunEventInput, type RunEventListener, stampEvent } from './run-events.js';
import type { RunStatus } from './run-state.js';

export type DeployMachinePhase =
  | 'pending'
  | 'copying'
  | 'activating'
  | 'health'
  | 'committing'
  | 'succeeded'
  | 'failed';

export interface DeployProgress {
  phase: DeployMachinePhase;
  previous: MachineSystems | null;
  /** Whether lab added a profile generation (and must remove it on rollback). */
  profileSet: boolean;
  startedAt: number | null;
  error: { phase: DeployPhase; reason: string } | null;
  rollback: { ok: boolean; reason: string | null } | null;
}

export interface DeploySettings {
  /** Seconds the checks may take to turn green after activation (default 300). */
  readonly healthTimeout: number;
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
      progress[machine.name] = {
        phase: 'pending',
        previous: null,
        profileSet: false,
        startedAt: null,
        error: null,
        rollback: null,
      };
    }
  }
  return {
    version: 1,
    id: options.id ?? randomUUID(),
    kind: 'deploy',
    flake: options.flake,
    createdAt: Date.now(),
    settings: { healthTimeout: 300, ...options.settings },
    steps: steps.map((step) => ({
      strategy: step.strategy,
      machines: step.machines.map((machine) => machine.name),
    })),
    machines,
    systems: null,
    progress,
    step: 0,
    status: 'pending',
    startedAt: null,
    finishedAt: null,
    needsReboot: [],
  };
}

export interface DeployRunPorts {
  readonly host: DeployHost;
  /** Builds every machine's system before any machine is touched: machine → store path. */
  readonly build: (machines: readonly string[]) => Promise<Map<string, string>>;
  readonly checkpoint?: (state: DeployRunState) => void | Promise<void>;
  readonly healthIntervalMs?: number;
}

class DeployFailure extends Error {
  constructor(
    readonly phase: DeployPhase,
    reason: string,
  ) {
    super(reason);
  }
}

/**
 * Carries out a deploy: build everything, then step by step — rolling: copy, set profile and
 * switch, health-gate; blue-green: copy, `test`, health-gate, then set profile and switch;
 * recreate: the step's machines at once, checked together. A machine that fails is rolled back
 * (profile and running system) and checked again; the run halts there.
 */
export class DeployRun {
  private readonly listeners: RunEventListener[] = [];

  constructor(
    readonly state: DeployRunState,
    private readonly ports: DeployRunPorts,
  ) {}

  on(listener: RunEventListener): this {
    this.listeners.push(listener);
    return this;
  }

  async run(signal?: AbortSignal): Promise<DeployRunState> {
    const { state } = this;
    if (state.status === 'pending') {
      state.status = 'running';
      state.startedAt = Date.now();
      this.emit({ type: 'run.started', kind: 'deploy', steps: state.steps.map((step) => step.machines) });
      await this.save();
    }
    if (state.systems === null) {
      const names = state.steps.flatMap((step) => step.machines);
      this.emit({ type: 'deploy.building', machines: names });
      try {
        state.systems = Object.fromEntries(await this.ports.build(names));
      } catch (error) {
        return this.finish('failed', { machine: null, phase: 'build', reason: (error as Error).message });
      }
      this.emit({ type: 'deploy.built', systems: state.systems });
      await this.save();
    }
    while (state.step < state.steps.length) {
      if (signal?.aborted) return this.finish('cancelled', null);
      const step = state.steps[state.step] as DeployRunState['steps'][number];
      this.emit({ type: 'step.started', step: state.step + 1, machines: step.machines });
      const machines = step.machines.map((name) => state.machines[name] as Machine);
      if (step.strategy === 'recreate') await this.deployTogether(machines, signal);
      else await Promise.all(machines.map((machine) => this.deployOne(machine, step.strategy, signal)));
      const failed = step.machines.find((name) => this.progress(name).phase === 'failed');
      this.emit({ type: 'step.finished', step: state.step + 1, ok: failed === undefined });
      if (failed) {
        const error = this.progress(failed).error;
        return this.finish('failed', error ? { machine: failed, ...error } : null);
      }
      state.step += 1;
      await this.save();
    }
    await this.findRebootsNeeded();
    return this.finish('succeeded', null);
  }

  /** One rolling or blue-green machine. */
  private async deployOne(machine: Machine, strategy: DeployStrategy, signal?: AbortSignal): Promise<void> {
    const progress = this.progress(machine.name);
    if (progress.phase === 'succeeded' || progress.phase === 'failed') return;
    progress.startedAt ??= Date.now();
    try {
      await this.prepare(machine);
      const system = this.system(machine.name);
      if (strategy === 'blue-green') {
        await this.activate(machine, system, 'test');
        await this.gate(machine, signal);
        await this.checkpoint(machine, 'committing');
        await this.commit(machine, system);
      } else {
        await this.commit(machine, system);
        await this.gate(machine, signal);
      }
      await this.succeed(machine);
    } catch (error) {
      await this.fail(machine, strategy, error, signal);
    }
  }

  /** A stage's recreate machines: all switch at once, then are checked together. */
  private async deployTogether(machines: readonly Machine[], signal?: AbortSignal): Promise<void> {
    const pending = machines.filter(
      (machine) => !['succeeded', 'failed'].includes(this.progress(machine.name).phase),
    );
    for (const machine of pending) this.progress(machine.name).startedAt ??= Date.now();
    const errors = await Promise.all(
      pending.map((machine) =>
        settle(async () => {
          await this.prepare(machine);
          await this.commit(machine, this.system(machine.name));
          await this.gate(machine, signal);
        }),
      ),
    );
    if (errors.every((error) => error === null)) {
      for (const machine of pending) await this.succeed(machine);
      return;
    }
    // One failed: the whole group goes back, as it came together.
    await Promise.all(
      pending.map((machine, index) =>
        this.fail(
          machine,
          'recreate',
          errors[index] ?? new DeployFailure('health', 'rolled back with its recreate group'),
          signal,
        ),
      ),
    );
  }

  /** Reads what runs now (for rollback) and copies the new system over. */
  private async prepare(machine: Machine): Promise<void> {
    const progress = this.progress(machine.name);
    const system = this.system(machine.name);
    if (progress.phase === 'pending') {
      progress.previous ??= await phase('copy', this.ports.host.systems(machine));
      await this.checkpoint(machine, 'copying');
    }
    if (progress.phase === 'copying') {
      this.emit({ type: 'machine.copying', machine: machine.name, system });
      await phase('copy', this.ports.host.copy(machine, system));
      await this.checkpoint(machine, 'activating');
    }
  }

  private async activate(machine: Machine, system: string, action: 'switch' | 'test'): Promise<void> {
    if (this.progress(machine.name).phase !== 'activating') return;
    this.emit({ type: 'machine.activating', machine: machine.name, action, system });
    await phase('activation', this.ports.host.switchTo(machine, system, action));
    await this.checkpoint(machine, 'health');
  }

  /** Profile + switch: the new system becomes what runs and what boots. */
  private async commit(machine: Machine, system: string): Promise<void> {
    const progress = this.progress(machine.name);
    if (progress.phase !== 'activating' && progress.phase !== 'committing') return;
    const where: DeployPhase = progress.phase === 'committing' ? 'commit' : 'activation';
    this.emit({ type: 'machine.activating', machine: machine.name, action: 'switch', system });
    await phase(where, this.ports.host.setProfile(machine, system));
    progress.profileSet = true;
    await this.save();
    await phase(where, this.ports.host.switchTo(machine, system, 'switch'));
    await this.checkpoint(machine, where === 'commit' ? 'succeeded' : 'health');
  }

  private async gate(machine: Machine, signal?: AbortSignal): Promise<void> {
    if (this.progress(machine.name).phase !== 'health') return;
    const health = await this.waitHealthy(machine, signal);
    if (!health.ok)
      throw new DeployFailure('health', describeUnhealthy(health, this.state.settings.healthTimeout));
  }

  private async succeed(machine: Machine): Promise<void> {
    const progress = this.progress(machine.name);
    progress.phase = 'succeeded';
    this.emit({
      type: 'machine.succeeded',
      machine: machine.name,
      what: 'deployed',
      durationMs: Date.now() - (progress.startedAt ?? Date.now()),
    });
    await this.save();
  }

  /** Records the failure and puts the machine back as it was: profile, running system, health. */
  private async fail(
    machine: Machine,
    strategy: DeployStrategy,
    error: unknown,
    signal?: AbortSignal,
  ): Promise<void> {
    const progress = this.progress(machine.name);
    const failedIn: DeployPhase = error instanceof DeployFailure ? error.phase : 'activation';
    progress.error = { phase: failedIn, reason: (error as Error).message };
    progress.phase = 'failed';
    this.emit({
      type: 'machine.failed',
      machine: machine.name,
      phase: failedIn,
      reason: (error as Error).message,
    });
    await this.save();
    if (failedIn === 'copy' || progress.previous?.current == null) return; // nothing was activated
    this.emit({ type: 'machine.rolling-back', machine: machine.name, to: progress.previous.current });
    try {
      if (progress.profileSet) {
        await this.ports.host.rollbackProfile(machine);
        progress.profileSet = false;
      }
      // Blue-green never persisted anything: re-activating the old system is enough.
      await this.ports.host.switchTo(
        machine,
        progress.previous.current,
        strategy === 'blue-green' ? 'test' : 'switch',
      );
      const health = await this.waitHealthy(machine, signal);
      progress.rollback = health.ok
        ? { ok: true, reason: null }
        : { ok: false, reason: `the previous system is back but unhealthy: ${describeUnhealthy(health)}` };
    } catch (rollbackError) {
      progress.rollback = { ok: false, reason: (rollbackError as Error).message };
    }
    this.emit({ type: 'machine.rolled-back', machine: machine.name, ...progress.rollback });
    await this.save();
  }

  private async findRebootsNeeded(): Promise<void> {
    const deployed = Object.keys(this.state.progress).filter(
      (name) => this.progress(name).phase === 'succeeded',
    );
    for (const name of deployed) {
      try {
        const facts = await this.ports.host.facts(this.state.machines[name] as Machine);
        if (facts.needsReboot) {
          this.state.needsReboot.push(name);
          this.emit({ type: 'machine.needs-reboot', machine: name, changed: facts.changed });
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
      onChange: (health, attempt) =>
        this.emit({
          type: 'machine.health',
          machine: machine.name,
          ok: health.ok,
          attempt,
          checks: health.checks,
        }),
    });
  }

  private async finish(
    status: 'succeeded' | 'failed' | 'cancelled',
    failure: { machine: string | null; phase: DeployPhase; reason: string } | null,
  ): Promise<DeployRunState> {
    const { state } = this;
    state.status = status;
    state.finishedAt = Date.now();
    const pending = state.steps
      .flatMap((step) => step.machines)
      .filter((name) => this.progress(name).phase === 'pending');
    this.emit({ type: 'run.finished', status, failure, pending });
    await this.save();
    return state;
  }

  private async checkpoint(machine: Machine, next: DeployMachinePhase): Promise<void> {
    this.progress(machine.name).phase = next;
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

  private emit(event: RunEventInput): void {
    const stamped = stampEvent(event, this.state.id, this.state.startedAt);
    for (const listener of this.listeners) listener(stamped);
  }
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
