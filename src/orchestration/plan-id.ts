import { createHash } from 'node:crypto';
import type { Machine } from '../domain/inventory/schema.js';
import type { Plan } from '../domain/planner/plan.js';

/** The machine fields a plan id covers. */
export type PlanMachine = Pick<Machine, 'name' | 'criticalityLevel' | 'rebootOrder'>;

/**
 * What a plan id is computed from: the run kind, the steps (as a run state stores them, or as
 * lists of names) and the machines by name, as in a run state.
 */
export interface PlanIdentity {
  readonly kind: 'reboot' | 'deploy' | 'health' | 'power';
  readonly steps: readonly unknown[];
  readonly machines: Readonly<Record<string, PlanMachine>>;
}

/**
 * A short id of a plan: its steps and what each machine is. Approvals and a Start button are
 * bound to it, so the same plan must always give the same id (the run state built from a plan
 * gives the id of that plan). Pure.
 */
export function planIdOf(plan: PlanIdentity): string {
  const machines = Object.values(plan.machines).map((machine) => [
    machine.name,
    machine.criticalityLevel,
    machine.rebootOrder,
  ]);
  return createHash('sha256')
    .update(JSON.stringify([plan.kind, plan.steps.map(stepIdentity), machines]))
    .digest('hex')
    .slice(0, 12);
}

/**
 * A step as version 1 run states stored it, so that a plan keeps its id: the machines' names, or
 * a deploy step's strategy and names.
 */
function stepIdentity(step: unknown): unknown {
  if (Array.isArray(step) || typeof step !== 'object' || step === null) return step;
  const { machines, strategy } = step as { machines: readonly string[]; strategy?: string };
  return strategy === undefined ? machines : { strategy, machines };
}

/** The id of a reboot plan, without building its run state. */
export function rebootPlanId(plan: Plan): string {
  const machines: Record<string, PlanMachine> = {};
  for (const step of plan.steps) for (const machine of step.machines) machines[machine.name] = machine;
  return planIdOf({
    kind: 'reboot',
    steps: plan.steps.map((step) => step.machines.map((machine) => machine.name)),
    machines,
  });
}
