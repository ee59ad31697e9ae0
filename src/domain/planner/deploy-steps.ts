import { ConfigurationError } from '../../errors.js';
import type { DeployStrategy, Machine } from '../inventory/schema.js';
import type { Plan } from './plan.js';

/** Machines deployed together: one rolling or blue-green machine, or a stage's recreate machines. */
export interface DeployStep {
  readonly rebootOrder: number;
  readonly strategy: DeployStrategy;
  readonly machines: readonly Machine[];
}

/**
 * Deploy order from a sequence plan made with parallel 1: rolling and blue-green machines one at
 * a time, in sequence order; the recreate machines of a stage together, as one step where the
 * last of them stands in the sequence. Pure.
 *
 * @throws ConfigurationError when a machine between two recreate machines depends on one of them
 *   (they cannot switch together without breaking the order).
 */
export function deploySteps(plan: Plan): DeployStep[] {
  const steps: DeployStep[] = [];
  const stages = new Map<number, Machine[]>();
  for (const step of plan.steps) {
    const stage = stages.get(step.rebootOrder) ?? [];
    stage.push(...step.machines);
    stages.set(step.rebootOrder, stage);
  }
  for (const [rebootOrder, ordered] of stages) {
    const recreate = ordered.filter((machine) => machine.deployStrategy === 'recreate');
    const last = ordered.lastIndexOf(recreate.at(-1) as Machine);
    const first = ordered.indexOf(recreate[0] as Machine);
    const recreateNames = new Set(recreate.map((machine) => machine.name));
    ordered.forEach((machine, index) => {
      if (machine.deployStrategy !== 'recreate') {
        if (index > first && index < last) {
          const blocking = machine.dependencies.filter((dep) => recreateNames.has(dep));
          if (blocking.length > 0) {
            throw new ConfigurationError(
              `stage ${rebootOrder}: the recreate machines ${[...recreateNames].join(', ')} switch together, but ` +
                `${machine.name} (${machine.deployStrategy}) comes between them in the sequence and depends on ` +
                `${blocking.join(', ')}: make ${machine.name} recreate as well, or give it another rebootOrder`,
            );
          }
        }
        steps.push({ rebootOrder, strategy: machine.deployStrategy, machines: [machine] });
      } else if (index === last) {
        steps.push({ rebootOrder, strategy: 'recreate', machines: recreate });
      }
    });
  }
  return steps;
}
