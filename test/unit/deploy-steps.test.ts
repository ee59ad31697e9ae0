import { describe, expect, it } from 'vitest';
import { deploySteps } from '../../src/domain/planner/deploy-steps.js';
import { planSequence } from '../../src/domain/planner/plan.js';
import { ConfigurationError } from '../../src/errors.js';
import { inventoryOf, machine } from '../support/machines.js';

const steps = (...machines: ReturnType<typeof machine>[]) =>
  deploySteps(planSequence(inventoryOf(machines))).map((step) => [
    step.strategy,
    step.machines.map((m) => m.name),
  ]);

describe('deploySteps', () => {
  it('deploys rolling and blue-green machines one at a time, in sequence order', () => {
    expect(
      steps(
        machine('web', { rebootOrder: 2, dependencies: ['db'] }),
        machine('db', { rebootOrder: 2, deployStrategy: 'blue-green' }),
        machine('nas'),
      ),
    ).toEqual([
      ['rolling', ['nas']],
      ['blue-green', ['db']],
      ['rolling', ['web']],
    ]);
  });

  it("groups a stage's recreate machines into one step, where the last of them stands", () => {
    expect(
      steps(
        machine('a', { deployStrategy: 'recreate' }),
        machine('b'),
        machine('c', { deployStrategy: 'recreate' }),
        machine('d', { rebootOrder: 2, deployStrategy: 'recreate' }),
      ),
    ).toEqual([
      ['rolling', ['b']],
      ['recreate', ['a', 'c']],
      ['recreate', ['d']],
    ]);
  });

  it('refuses a machine between recreate machines that depends on one of them', () => {
    const run = () =>
      steps(
        machine('a', { deployStrategy: 'recreate' }),
        machine('b', { dependencies: ['a'] }),
        machine('c', { deployStrategy: 'recreate', dependencies: ['b'] }),
      );
    expect(run).toThrow(ConfigurationError);
    expect(run).toThrow(
      'stage 1: the recreate machines a, c switch together, but b (rolling) comes between them in the sequence and depends on a: make b recreate as well, or give it another rebootOrder',
    );
  });
});
