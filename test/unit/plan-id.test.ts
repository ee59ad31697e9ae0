import { describe, expect, it } from 'vitest';
import { planSequence } from '../../src/domain/planner/plan.js';
import { planIdOf, rebootPlanId } from '../../src/orchestration/plan-id.js';
import { planId } from '../../src/orchestration/queue/run-request.js';
import { createRebootRun } from '../../src/orchestration/run-state.js';
import { inventoryOf, machine } from '../support/machines.js';

const inventory = inventoryOf([
  machine('web', { rebootOrder: 2, dependencies: ['db'] }),
  machine('db', { rebootOrder: 1, criticalityLevel: 'high' }),
  machine('cache', { rebootOrder: 2 }),
  // A name that looks like an integer: an object puts it first, and the id follows the object.
  machine('10', { rebootOrder: 3 }),
]);

describe('plan ids', () => {
  it('gives a reboot plan the id of the run state built from it', () => {
    for (const parallel of [1, 2]) {
      const plan = planSequence(inventory, { parallel });
      const state = createRebootRun(plan, { flake: '/flake', settings: { confirmLevels: ['high'] } });
      expect(rebootPlanId(plan)).toBe(planId(state));
    }
  });

  it('keeps the ids it gave before plan ids were computed without a run state', () => {
    // Computed by planId(createRebootRun(plan)) before planIdOf existed: approvals name these.
    expect(rebootPlanId(planSequence(inventory))).toBe('6ea7e0916b04');
    expect(rebootPlanId(planSequence(inventory, { parallel: 2 }))).toBe('143896759e70');
  });

  it('tells plans apart by kind, steps and what each machine is', () => {
    const plan = planSequence(inventory);
    const state = createRebootRun(plan, { flake: '/flake' });
    const base = { kind: state.kind, steps: state.steps, machines: state.machines };
    expect(planIdOf(base)).toBe(planId(state));
    expect(planIdOf({ ...base, kind: 'health' })).not.toBe(planId(state));
    expect(planIdOf({ ...base, steps: [...state.steps].reverse() })).not.toBe(planId(state));
    const db = state.machines.db;
    if (!db) throw new Error('db is in the plan');
    const critical = { ...state.machines, db: { ...db, criticalityLevel: 'low' as const } };
    expect(planIdOf({ ...base, machines: critical })).not.toBe(planId(state));
  });
});
