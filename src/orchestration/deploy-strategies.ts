import type { SwitchAction } from '../domain/deploy/deploy-host.js';
import type { DeployStrategy, Machine } from '../domain/inventory/schema.js';
import type { Plan } from '../domain/planner/plan.js';

/** What a deploy strategy does, in one place: the procedure and the docs read it from here. */
export interface StrategyInfo {
  /**
   * A trial activation first: `test` (persists nothing), the health gate, then the commit
   * (`boot`: profile and boot default, no second activation). Without: `switch`, then the gate.
   */
  readonly trial: boolean;
  /** The step's machines switch at once and are gated together; one failure rolls back all. */
  readonly together: boolean;
  /** The activation that makes the new system run. */
  readonly activate: SwitchAction;
  /**
   * How a failed machine goes back: its profile to the old generation and the old system's
   * `switch` (rolling, recreate); or, before its commit, only `test` of what ran (blue-green).
   */
  readonly rollback: 'profile and switch' | 'test before the commit';
}

export const deployStrategyTable: Readonly<Record<DeployStrategy, StrategyInfo>> = {
  rolling: { trial: false, together: false, activate: 'switch', rollback: 'profile and switch' },
  'blue-green': { trial: true, together: false, activate: 'test', rollback: 'test before the commit' },
  recreate: { trial: false, together: true, activate: 'switch', rollback: 'profile and switch' },
};

export const strategyInfo = (strategy: DeployStrategy | undefined): StrategyInfo =>
  deployStrategyTable[strategy ?? 'rolling'];

/** The plan with one strategy for every machine (`--strategy`, Discord's option), else as it is. */
export function withStrategy(plan: Plan, strategy: DeployStrategy | undefined): Plan {
  if (!strategy) return plan;
  return {
    ...plan,
    steps: plan.steps.map((step) => ({
      ...step,
      machines: step.machines.map((machine): Machine => ({ ...machine, deployStrategy: strategy })),
    })),
  };
}
