import { UnknownTargetError } from '../../errors.js';
import type { Inventory, Machine } from '../inventory/schema.js';

/**
 * Resolves targets — machine names, `@group`, or `all` — to machines. No targets means all.
 * The result keeps inventory order; the planner decides the reboot order.
 */
export function selectTargets(
  inventory: Pick<Inventory, 'machines' | 'unmanaged' | 'broken'>,
  targets: readonly string[],
): Machine[] {
  const { machines } = inventory;
  if (targets.length === 0 || targets.includes('all')) return [...machines];
  const selected = new Set<string>();
  for (const target of targets) {
    if (target.startsWith('@')) {
      const group = target.slice(1);
      const members = machines.filter((machine) => machine.groups.includes(group));
      if (members.length === 0) {
        throw new UnknownTargetError(
          `no machine is in group '${group}' (known groups: ${knownGroups(machines)})${brokenMembers(inventory, group)}`,
        );
      }
      for (const member of members) selected.add(member.name);
      continue;
    }
    if (machines.some((machine) => machine.name === target)) {
      selected.add(target);
      continue;
    }
    throw new UnknownTargetError(unknownMachineMessage(inventory, target));
  }
  return machines.filter((machine) => selected.has(machine.name));
}

function unknownMachineMessage(
  inventory: Pick<Inventory, 'machines' | 'unmanaged' | 'broken'>,
  target: string,
): string {
  if (inventory.unmanaged.some((host) => host.name === target)) {
    return `'${target}' does not use the lab module (no lab.machine): it cannot be targeted`;
  }
  const broken = inventory.broken.find((host) => host.name === target);
  if (broken) return `'${target}' could not be read: ${broken.error}`;
  const names = inventory.machines.map((machine) => machine.name).join(', ') || 'none';
  return `unknown machine '${target}' (machines: ${names}; groups are written @group)`;
}

/** `; thrower could not be read, so its groups are unknown` for hosts that could not be read. */
function brokenMembers(inventory: Pick<Inventory, 'broken'>, group: string): string {
  const inIt = inventory.broken.filter((host) => host.groups?.includes(group)).map((host) => host.name);
  const unknown = inventory.broken.filter((host) => !host.groups).map((host) => host.name);
  const parts: string[] = [];
  if (inIt.length > 0)
    parts.push(`${inIt.join(', ')} could not be read and ${inIt.length === 1 ? 'is' : 'are'} in it`);
  if (unknown.length > 0)
    parts.push(
      `${unknown.join(', ')} could not be read, so ${unknown.length === 1 ? 'its groups are' : 'their groups are'} unknown`,
    );
  return parts.length > 0 ? `; ${parts.join('; ')}` : '';
}

function knownGroups(machines: readonly Machine[]): string {
  const groups = [...new Set(machines.flatMap((machine) => machine.groups))].sort();
  return groups.length > 0 ? groups.map((group) => `@${group}`).join(', ') : 'none';
}
