import { describeUnhealthy, type MachineHealth } from '../../domain/health/check-result.js';
import type { Machine } from '../../domain/inventory/schema.js';
import { healthPhases } from '../phases.js';
import { type EnginePorts, type Procedure, RunEngine } from '../run-engine.js';
import type { HealthRunState, RunState } from '../run-state.js';

export interface HealthProcedureOptions {
  readonly checkHealth: (machine: Machine) => Promise<MachineHealth>;
}

/** A health run: every machine's checks once (16 at a time); it succeeds when all are healthy. Touches nothing. */
export function healthProcedure(options: HealthProcedureOptions): Procedure {
  return {
    table: healthPhases,
    announcesSteps: false,
    concurrency: 16,
    phase: async (name, run) => {
      const progress = run.progress(name);
      const health = await options.checkHealth(run.state.machines[name] as Machine);
      progress.result = health;
      progress.finishedAt = Date.now();
      if (!health.ok) progress.error = { phase: 'health', reason: unhealthyText(health) };
      run.report({ type: 'machine.health', machine: name, ok: health.ok, attempt: 1, checks: health.checks });
      return { type: 'next', phase: health.ok ? 'healthy' : 'unhealthy' };
    },
    succeeded: () => ({ what: 'rebooted' }),
    resultFailure: (state: RunState) => {
      for (const name of state.steps.flatMap((step) => step.machines)) {
        const result = state.progress[name]?.result;
        if (result && !result.ok)
          return { machine: name, phase: 'health', reason: describeUnhealthy(result) };
      }
      return null;
    },
  };
}

/** What is wrong with an unhealthy machine, in a few words: its failing checks, or why it was not reached. */
function unhealthyText(health: MachineHealth): string {
  const failing = health.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.error}`);
  return failing.join('; ') || 'unreachable';
}

/** A health run's engine. */
export function healthEngine<S extends HealthRunState | RunState>(
  state: S,
  ports: HealthProcedureOptions & EnginePorts<S>,
): RunEngine {
  return new RunEngine(state, healthProcedure(ports), ports as EnginePorts);
}
