import { ConfigurationErrors, UsageError } from '../../errors.js';
import type { BrokenHost, Inventory, Machine } from '../inventory/schema.js';
import { brokenHostsIn, type SkippedHost } from './broken-hosts.js';
import { dependencyProblems } from './dependency-problems.js';
import { BrokenHostsError } from './errors.js';
import { selectTargets } from './select-targets.js';

export type { SkippedHost } from './broken-hosts.js';

/** Machines that reboot together; every machine of a step has the same rebootOrder. */
export interface PlanStep {
  readonly rebootOrder: number;
  readonly machines: readonly Machine[];
}

export interface Plan {
  readonly steps: readonly PlanStep[];
  readonly warnings: readonly string[];
  /** Hosts that could not be read and that the plan goes on without (only with `skipBroken`). */
  readonly skipped: readonly SkippedHost[];
}

export interface PlanOptions {
  /** Machine names, `@group`s or `all`; none means every machine. */
  readonly targets?: readonly string[];
  /** How many independent machines of one stage may share a step (default 1). */
  readonly parallel?: number;
  /**
   * Go on without the hosts that could not be read which a plan of all or of a group would
   * include; they are listed in `skipped`. Without it such a plan is refused (BrokenHostsError).
   */
  readonly skipBroken?: boolean;
}

/**
 * The reboot sequence: ascending rebootOrder, equal values form a stage and stages never mix;
 * inside a stage a machine comes after all its dependencies, ties broken by name. With
 * `parallel` > 1, machines of a stage whose dependencies all sit in earlier steps share a step,
 * up to `parallel` of them, taken in name order. Pure: no I/O.
 *
 * @throws ConfigurationErrors naming every machine whose dependencies are wrong.
 * @throws BrokenHostsError when a plan of all or of a group would leave out hosts that could
 *   not be read, unless `skipBroken`.
 */
export function planSequence(
  inventory: Pick<Inventory, 'machines' | 'unmanaged' | 'broken'>,
  options: PlanOptions = {},
): Plan {
  const parallel = options.parallel ?? 1;
  if (!Number.isInteger(parallel) || parallel < 1) {
    throw new UsageError(`--parallel must be a whole number of at least 1 (got ${parallel})`);
  }
  const problems = dependencyProblems(inventory);
  if (problems.length > 0) throw new ConfigurationErrors(problems);

  const { machines: selected, skipped, notInPlan } = selectForPlan(inventory, options);
  const selectedNames = new Set(selected.map((machine) => machine.name));
  const steps: PlanStep[] = [];
  for (const stage of stagesOf(selected)) {
    for (const machines of stepsOfStage(stage, parallel)) {
      steps.push({ rebootOrder: stage[0]?.rebootOrder ?? 0, machines });
    }
  }
  return { steps, warnings: [...planWarnings(selected, selectedNames), ...notInPlan], skipped };
}

/** The machines a plan (or a health check) of the targets is about, and the broken hosts it leaves out. */
export interface PlanSelection {
  /** In inventory order. */
  readonly machines: readonly Machine[];
  /** The broken hosts the selection goes on without (with `skipBroken`). */
  readonly skipped: readonly SkippedHost[];
  /** One line per broken host that is not in the selection anyway (machines named one by one). */
  readonly notInPlan: readonly string[];
}

/**
 * Resolves the targets (see selectTargets) and decides about the hosts that could not be read:
 * a selection of all or of a group that would leave some out is refused unless `skipBroken`.
 *
 * @throws BrokenHostsError naming each such host and what is wrong with it.
 */
export function selectForPlan(
  inventory: Pick<Inventory, 'machines' | 'unmanaged' | 'broken'>,
  options: Pick<PlanOptions, 'targets' | 'skipBroken'> = {},
): PlanSelection {
  const targets = options.targets ?? [];
  const machines = selectTargets(inventory, targets);
  const leftOut = brokenHostsIn(inventory, targets);
  if (leftOut.length > 0 && !options.skipBroken) throw new BrokenHostsError(leftOut, targets);
  const skippedNames = new Set(leftOut.map((host) => host.name));
  return {
    machines,
    skipped: leftOut.map((host) => ({ name: host.name, reason: host.error })),
    notInPlan: inventory.broken
      .filter((host) => !skippedNames.has(host.name))
      .map((host: BrokenHost) => `${host.name} could not be read and is not in this plan: ${host.error}`),
  };
}

function stagesOf(machines: readonly Machine[]): Machine[][] {
  const stages = new Map<number, Machine[]>();
  for (const machine of machines) {
    const stage = stages.get(machine.rebootOrder) ?? [];
    stage.push(machine);
    stages.set(machine.rebootOrder, stage);
  }
  return [...stages.entries()].sort(([a], [b]) => a - b).map(([, stage]) => stage);
}

/**
 * Kahn's algorithm over the dependencies inside one stage, the ready set kept in name order.
 * Each step takes up to `parallel` ready machines; machines they unblock wait for a later step.
 * Dependencies outside the stage belong to earlier stages or are not selected: already satisfied.
 */
function stepsOfStage(stage: readonly Machine[], parallel: number): Machine[][] {
  const inStage = new Map(stage.map((machine) => [machine.name, machine]));
  const waitingOn = new Map<string, number>();
  const dependents = new Map<string, Machine[]>();
  for (const machine of stage) {
    const inside = new Set(machine.dependencies.filter((dep) => inStage.has(dep)));
    waitingOn.set(machine.name, inside.size);
    for (const dep of inside) {
      const list = dependents.get(dep);
      if (list) list.push(machine);
      else dependents.set(dep, [machine]);
    }
  }
  let ready = stage.filter((machine) => waitingOn.get(machine.name) === 0).sort(byName);
  const steps: Machine[][] = [];
  while (ready.length > 0) {
    const step = ready.slice(0, parallel);
    ready = ready.slice(step.length);
    steps.push(step);
    for (const done of step) {
      for (const dependent of dependents.get(done.name) ?? []) {
        const left = (waitingOn.get(dependent.name) ?? 1) - 1;
        waitingOn.set(dependent.name, left);
        if (left === 0) insertSorted(ready, dependent);
      }
    }
  }
  // dependencyProblems() rules out cycles, so every machine of the stage has been placed.
  return steps;
}

function insertSorted(list: Machine[], machine: Machine): void {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (byName(list[middle] as Machine, machine) < 0) low = middle + 1;
    else high = middle;
  }
  list.splice(low, 0, machine);
}

const byName = (a: Machine, b: Machine): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function planWarnings(selected: readonly Machine[], selectedNames: ReadonlySet<string>): string[] {
  const warnings: string[] = [];
  for (const machine of [...selected].sort(byName)) {
    const outside = machine.dependencies.filter((dep) => !selectedNames.has(dep));
    if (outside.length > 0) {
      warnings.push(
        `${machine.name} depends on ${outside.join(', ')}, which ${outside.length === 1 ? 'is' : 'are'} not in this selection`,
      );
    }
    if (machine.healthChecks.length === 0) {
      warnings.push(`${machine.name} has no health checks: after a reboot lab can only wait for SSH`);
    }
  }
  return warnings;
}
