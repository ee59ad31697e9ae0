import { waitUntilHealthy } from '../domain/health/check-machine.js';
import { describeUnhealthy, type MachineHealth } from '../domain/health/check-result.js';
import type { Machine } from '../domain/inventory/schema.js';
import type { RebootHost } from '../domain/reboot/reboot-host.js';
import { pause } from '../util/pause.js';
import { type RebootPhase, type RunEventInput, type RunEventListener, stampEvent } from './run-events.js';
import { isFinished, type MachineProgress, type RebootRunState } from './run-state.js';

export interface RebootRunPorts {
  readonly host: RebootHost;
  /** Asks whether a machine may reboot (criticality needs it); false cancels the run. */
  readonly confirm: (machine: Machine) => Promise<boolean>;
  /** Called after every change of the state, e.g. to persist it. */
  readonly checkpoint?: (state: RebootRunState) => void | Promise<void>;
  /** How long to wait between health attempts (default 500 ms). */
  readonly healthIntervalMs?: number;
}

/** Thrown inside a machine's procedure: the phase and reason recorded for it. */
class PhaseFailure extends Error {
  constructor(
    readonly phase: RebootPhase,
    reason: string,
  ) {
    super(reason);
  }
}

class Cancelled extends Error {}

/**
 * Carries out a reboot run: step after step, the machines of a step together, each through
 * delay → confirmation → reboot command → coming back (new boot id) → health → stability.
 * A failure halts the run before the next step; an abort stops between phases. The state is
 * advanced in place and checkpointed after every change, so `run` also resumes a state that
 * was interrupted: finished phases are not repeated.
 */
export class RebootRun {
  private readonly listeners: RunEventListener[] = [];

  constructor(
    readonly state: RebootRunState,
    private readonly ports: RebootRunPorts,
  ) {}

  on(listener: RunEventListener): this {
    this.listeners.push(listener);
    return this;
  }

  async run(signal?: AbortSignal): Promise<RebootRunState> {
    const { state } = this;
    if (state.status === 'succeeded' || state.status === 'failed' || state.status === 'cancelled')
      return state;
    if (state.status === 'pending') {
      state.status = 'running';
      state.startedAt = Date.now();
      this.emit({ type: 'run.started', kind: 'reboot', steps: state.steps });
      await this.save();
    }
    try {
      while (state.step < state.steps.length) {
        if (signal?.aborted) throw new Cancelled();
        const names = state.steps[state.step] as readonly string[];
        this.emit({ type: 'step.started', step: state.step + 1, machines: names });
        await Promise.all(names.map((name) => this.rebootMachine(name, signal)));
        const ok = names.every((name) => this.progress(name).phase !== 'failed');
        this.emit({ type: 'step.finished', step: state.step + 1, ok });
        if (!ok) return await this.finish('failed');
        if (names.some((name) => !isFinished(this.progress(name).phase))) throw new Cancelled();
        state.step += 1;
        await this.save();
      }
      return await this.finish('succeeded');
    } catch (error) {
      if (error instanceof Cancelled) return await this.finish('cancelled');
      throw error;
    }
  }

  private async rebootMachine(name: string, signal?: AbortSignal): Promise<void> {
    const progress = this.progress(name);
    const machine = this.state.machines[name] as Machine;
    if (isFinished(progress.phase)) {
      if (progress.phase === 'skipped')
        this.emit({ type: 'machine.skipped', machine: name, reason: progress.skipReason ?? 'skipped' });
      return;
    }
    progress.startedAt ??= Date.now();
    try {
      await this.phases(machine, progress, signal);
      progress.phase = 'succeeded';
      progress.finishedAt = Date.now();
      this.emit({
        type: 'machine.succeeded',
        machine: name,
        what: 'rebooted',
        durationMs: progress.finishedAt - progress.startedAt,
      });
      await this.save();
    } catch (error) {
      if (error instanceof Cancelled) return; // the run reports where it stopped
      if (signal?.aborted && !(error instanceof PhaseFailure)) return;
      const phase = error instanceof PhaseFailure ? error.phase : phaseName(progress.phase);
      const reason = (error as Error).message;
      progress.phase = 'failed';
      progress.error = { phase, reason };
      progress.finishedAt = Date.now();
      this.emit({ type: 'machine.failed', machine: name, phase, reason });
      await this.save();
    }
  }

  /** The phases from wherever the machine's progress stands. */
  private async phases(machine: Machine, progress: MachineProgress, signal?: AbortSignal): Promise<void> {
    const { settings } = this.state;
    const { host } = this.ports;
    const checkpoint = (phase: MachineProgress['phase']) => {
      progress.phase = phase;
      return this.save();
    };

    if (progress.phase === 'pending') {
      progress.delayUntil = Date.now() + machine.rebootDelay * 1000;
      await checkpoint('delay');
    }
    if (progress.phase === 'delay') {
      const left = (progress.delayUntil ?? 0) - Date.now();
      if (left > 0) {
        this.emit({
          type: 'machine.waiting',
          machine: machine.name,
          reason: 'delay',
          seconds: Math.ceil(left / 1000),
        });
        await pause(left, signal);
      }
      if (signal?.aborted) throw new Cancelled();
      await checkpoint('confirmation');
    }
    if (progress.phase === 'confirmation') {
      if (settings.confirmLevels.includes(machine.criticalityLevel) && !progress.confirmed) {
        this.emit({ type: 'machine.waiting', machine: machine.name, reason: 'confirmation' });
        if (!(await this.ports.confirm(machine))) throw new Cancelled();
        progress.confirmed = true;
        this.emit({ type: 'machine.confirmed', machine: machine.name });
      }
      if (signal?.aborted) throw new Cancelled();
      await checkpoint('rebooting');
    }
    if (progress.phase === 'rebooting') {
      if (progress.rebootSentAt === null) {
        progress.bootIdBefore ??= await failAs('reboot command', host.bootId(machine));
        await this.save();
        this.emit({ type: 'machine.rebooting', machine: machine.name, bootId: progress.bootIdBefore });
        await failAs('reboot command', host.sendReboot(machine, settings.rebootCommand));
        progress.rebootSentAt = Date.now();
      }
      await checkpoint('coming-back');
    }
    if (progress.phase === 'coming-back') {
      const previous = progress.bootIdBefore as string;
      const { bootId, downMs } = await failAs(
        'coming back',
        host.waitForNewBoot(machine, previous, {
          deadline: (progress.rebootSentAt ?? Date.now()) + settings.rebootTimeout * 1000,
          signal,
          onDown: () => this.emit({ type: 'machine.down', machine: machine.name }),
        }),
      );
      progress.bootIdAfter = bootId;
      this.emit({ type: 'machine.up', machine: machine.name, bootId, previousBootId: previous, downMs });
      await checkpoint('health');
    }
    if (progress.phase === 'health') {
      const health = await this.waitHealthy(machine, settings.healthTimeout, signal);
      if (!health.ok) throw new PhaseFailure('health', describeUnhealthy(health, settings.healthTimeout));
      await checkpoint('stability');
    }
    if (progress.phase === 'stability' && settings.stabilityWindow > 0) {
      const until = Date.now() + settings.stabilityWindow * 1000;
      while (Date.now() < until) {
        await pause(Math.min(this.ports.healthIntervalMs ?? 1000, until - Date.now()), signal);
        if (signal?.aborted) throw new Cancelled();
        const health = await this.ports.host.checkHealth(machine);
        if (!health.ok) {
          this.emitHealth(machine.name, health, 0);
          throw new PhaseFailure(
            'stability',
            `${describeUnhealthy(health)} during the ${settings.stabilityWindow} s stability window`,
          );
        }
      }
    }
  }

  private async waitHealthy(machine: Machine, timeout: number, signal?: AbortSignal): Promise<MachineHealth> {
    const health = await waitUntilHealthy(() => this.ports.host.checkHealth(machine), {
      deadline: Date.now() + timeout * 1000,
      intervalMs: this.ports.healthIntervalMs,
      signal,
      onChange: (result, attempt) => this.emitHealth(machine.name, result, attempt),
    });
    if (signal?.aborted && !health.ok) throw new Cancelled();
    return health;
  }

  private emitHealth(machine: string, health: MachineHealth, attempt: number): void {
    this.emit({ type: 'machine.health', machine, ok: health.ok, attempt, checks: health.checks });
  }

  private async finish(status: 'succeeded' | 'failed' | 'cancelled'): Promise<RebootRunState> {
    const { state } = this;
    state.status = status;
    state.finishedAt = Date.now();
    const failed = Object.entries(state.progress).find(([, progress]) => progress.phase === 'failed');
    const failure = failed?.[1].error ? { machine: failed[0], ...failed[1].error } : null;
    const pending = state.steps.flat().filter((name) => !isFinished(this.progress(name).phase));
    this.emit({ type: 'run.finished', status, failure, pending });
    await this.save();
    return state;
  }

  private progress(name: string): MachineProgress {
    return this.state.progress[name] as MachineProgress;
  }

  private save(): Promise<void> {
    return Promise.resolve(this.ports.checkpoint?.(this.state));
  }

  private emit(event: RunEventInput): void {
    const stamped = stampEvent(event, this.state.id, this.state.startedAt);
    for (const listener of this.listeners) listener(stamped);
  }
}

async function failAs<T>(phase: RebootPhase, promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw new PhaseFailure(phase, (error as Error).message);
  }
}

function phaseName(phase: MachineProgress['phase']): RebootPhase {
  switch (phase) {
    case 'pending':
    case 'delay':
      return 'delay';
    case 'confirmation':
      return 'confirmation';
    case 'rebooting':
      return 'reboot command';
    case 'coming-back':
      return 'coming back';
    case 'stability':
      return 'stability';
    default:
      return 'health';
  }
}
