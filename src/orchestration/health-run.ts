import { randomUUID } from 'node:crypto';
import { describeUnhealthy, type MachineHealth } from '../domain/health/check-result.js';
import type { Machine } from '../domain/inventory/schema.js';
import { mapConcurrent } from '../util/map-concurrent.js';
import { type MachineOutcome, type RunEventInput, type RunEventListener, stampEvent } from './run-events.js';
import type { Halt } from './run-flow.js';
import type { RunStatus } from './run-state.js';

/** A health run: every machine's checks once, all at the same time. Touches nothing. */
export interface HealthRunState {
  readonly version: 1;
  readonly id: string;
  readonly kind: 'health';
  readonly flake: string;
  readonly createdAt: number;
  readonly steps: readonly (readonly string[])[];
  readonly machines: Readonly<Record<string, Machine>>;
  results: Record<string, MachineHealth>;
  step: number;
  status: RunStatus;
  halt: Halt | null;
  cancelReason: string | null;
  startedAt: number | null;
  finishedAt: number | null;
}

export function createHealthRun(
  machines: readonly Machine[],
  options: { flake: string; id?: string },
): HealthRunState {
  return {
    version: 1,
    id: options.id ?? randomUUID(),
    kind: 'health',
    flake: options.flake,
    createdAt: Date.now(),
    steps: [machines.map((machine) => machine.name)],
    machines: Object.fromEntries(machines.map((machine) => [machine.name, machine])),
    results: {},
    step: 0,
    status: 'pending',
    halt: null,
    cancelReason: null,
    startedAt: null,
    finishedAt: null,
  };
}

export interface HealthRunPorts {
  readonly checkHealth: (machine: Machine) => Promise<MachineHealth>;
  readonly checkpoint?: (state: HealthRunState) => void | Promise<void>;
}

/** Checks every machine (16 at a time); succeeded when all are healthy. */
export class HealthRun {
  private readonly listeners: RunEventListener[] = [];

  constructor(
    readonly state: HealthRunState,
    private readonly ports: HealthRunPorts,
  ) {}

  on(listener: RunEventListener): this {
    this.listeners.push(listener);
    return this;
  }

  async run(): Promise<HealthRunState> {
    const { state } = this;
    if (state.status !== 'pending' && state.status !== 'running') return state;
    state.status = 'running';
    state.startedAt ??= Date.now();
    this.report({ type: 'run.started', kind: 'health', steps: state.steps });
    const names = (state.steps[0] ?? []).filter((name) => !state.results[name]);
    await mapConcurrent(names, 16, async (name) => {
      const health = await this.ports.checkHealth(state.machines[name] as Machine);
      state.results[name] = health;
      this.report({
        type: 'machine.health',
        machine: name,
        ok: health.ok,
        attempt: 1,
        checks: health.checks,
      });
    });
    const unhealthy = Object.entries(state.results).find(([, health]) => !health.ok);
    state.status = unhealthy ? 'failed' : 'succeeded';
    state.finishedAt = Date.now();
    await this.ports.checkpoint?.(state);
    this.report({
      type: 'run.finished',
      status: state.status,
      failure: unhealthy
        ? { machine: unhealthy[0], phase: 'health', reason: describeUnhealthy(unhealthy[1]) }
        : null,
      ...this.outcomes(),
      reason: null,
    });
    return state;
  }

  async end(status: 'failed' | 'cancelled' | 'aborted', reason: string): Promise<HealthRunState> {
    const { state } = this;
    state.status = status;
    state.finishedAt = Date.now();
    state.cancelReason = status === 'cancelled' ? reason : null;
    await this.ports.checkpoint?.(state);
    this.report({ type: 'run.finished', status, failure: null, ...this.outcomes(), reason });
    return state;
  }

  /** Each machine's result; the machines not checked are pending. */
  private outcomes(): { outcomes: { machine: string; outcome: MachineOutcome }[]; pending: string[] } {
    const outcomes = (this.state.steps[0] ?? []).map((machine) => {
      const health = this.state.results[machine];
      const outcome: MachineOutcome = health ? (health.ok ? 'healthy' : 'unhealthy') : 'not touched';
      return { machine, outcome };
    });
    const pending = outcomes.filter((entry) => entry.outcome === 'not touched').map((entry) => entry.machine);
    return { outcomes, pending };
  }

  report(event: RunEventInput): void {
    const stamped = stampEvent(event, this.state.id, this.state.startedAt);
    for (const listener of this.listeners) listener(stamped);
  }
}
