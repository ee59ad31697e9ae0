import type { Inventory, Machine } from '../inventory/schema.js';

/**
 * Everything wrong with the dependency graph, one human line per problem, each naming the
 * machines involved: unknown dependencies, dependencies on a later stage, and cycles.
 */
export function dependencyProblems(
  inventory: Pick<Inventory, 'machines' | 'unmanaged' | 'broken'>,
): string[] {
  const byName = new Map(inventory.machines.map((machine) => [machine.name, machine]));
  const problems: string[] = [];
  for (const machine of inventory.machines) {
    for (const dependency of machine.dependencies) {
      const target = byName.get(dependency);
      if (dependency === machine.name) {
        problems.push(`${machine.name} depends on itself (lab.machine.dependencies): remove '${dependency}'`);
      } else if (target === undefined) {
        problems.push(unknownDependency(inventory, machine, dependency));
      } else if (target.rebootOrder > machine.rebootOrder) {
        problems.push(
          `${machine.name} (rebootOrder ${machine.rebootOrder}) depends on ${target.name} (rebootOrder ${target.rebootOrder}), ` +
            `which reboots later: give ${target.name} a rebootOrder of at most ${machine.rebootOrder} or drop the dependency`,
        );
      }
    }
  }
  for (const cycle of dependencyCycles(inventory.machines)) {
    problems.push(
      `dependency cycle: ${[...cycle, cycle[0]].join(' → ')} (each depends on the next; lab.machine.dependencies)`,
    );
  }
  return problems;
}

function unknownDependency(
  inventory: Pick<Inventory, 'unmanaged' | 'broken'>,
  machine: Machine,
  dependency: string,
): string {
  const prefix = `${machine.name} depends on '${dependency}' (lab.machine.dependencies)`;
  if (inventory.unmanaged.some((host) => host.name === dependency)) {
    return `${prefix}, which does not use the lab module`;
  }
  if (inventory.broken.some((host) => host.name === dependency)) {
    return `${prefix}, which could not be read`;
  }
  return `${prefix}, which is not a machine of this flake`;
}

/**
 * Cycles of two or more machines among dependencies inside one stage (dependencies across
 * stages are reported on their own and cannot close a cycle once those are fixed). Each cycle
 * starts at its alphabetically first machine; cycles are found per strongly connected component.
 */
export function dependencyCycles(machines: readonly Machine[]): string[][] {
  const byName = new Map(machines.map((machine) => [machine.name, machine]));
  const edges = (name: string): string[] => {
    const machine = byName.get(name);
    if (!machine) return [];
    return [...machine.dependencies]
      .filter((dep) => dep !== name && byName.get(dep)?.rebootOrder === machine.rebootOrder)
      .sort();
  };
  return stronglyConnected([...byName.keys()].sort(), edges)
    .filter((component) => component.length > 1)
    .map((component) => cycleThrough(component, edges))
    .sort((a, b) => (a[0] ?? '').localeCompare(b[0] ?? ''));
}

/** Tarjan's algorithm, iterative so that long dependency chains cannot overflow the stack. */
function stronglyConnected(nodes: readonly string[], edges: (node: string) => string[]): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: { node: string; next: number; targets: string[] }[] = [];
    const visit = (node: string) => {
      index.set(node, counter);
      low.set(node, counter);
      counter += 1;
      stack.push(node);
      onStack.add(node);
      work.push({ node, next: 0, targets: edges(node) });
    };
    visit(root);
    while (work.length > 0) {
      const frame = work[work.length - 1] as (typeof work)[number];
      const target = frame.targets[frame.next];
      if (target !== undefined) {
        frame.next += 1;
        if (!index.has(target)) visit(target);
        else if (onStack.has(target)) {
          low.set(frame.node, Math.min(low.get(frame.node) as number, index.get(target) as number));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent)
        low.set(parent.node, Math.min(low.get(parent.node) as number, low.get(frame.node) as number));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string | undefined;
        do {
          member = stack.pop() as string;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        components.push(component.sort());
      }
    }
  }
  return components;
}

/** A simple cycle inside a strongly connected component, from its first machine back to it. */
function cycleThrough(component: readonly string[], edges: (node: string) => string[]): string[] {
  const members = new Set(component);
  const start = component[0] as string;
  const path: string[] = [start];
  const seen = new Set([start]);
  const search = (node: string): boolean => {
    for (const next of edges(node)) {
      if (!members.has(next)) continue;
      if (next === start) return true;
      if (seen.has(next)) continue;
      seen.add(next);
      path.push(next);
      if (search(next)) return true;
      path.pop();
    }
    return false;
  };
  search(start);
  return path;
}
