import type { Inventory } from '../domain/inventory/schema.js';
import { type Plan, planSequence } from '../domain/planner/plan.js';
import { rebootPlanId } from '../orchestration/plan-id.js';

/** `all` (or nothing) is every machine. */
export const targetsOf = (target: string | null): string[] => (!target || target === 'all' ? [] : [target]);

/** The reboot plan for a target and the id that binds a start click to it. */
export function rebootPlan(
  inventory: Inventory,
  target: string | null,
  skipBroken = false,
): { plan: Plan; id: string } {
  const plan = planSequence(inventory, { targets: targetsOf(target), skipBroken });
  return { plan, id: rebootPlanId(plan) };
}
