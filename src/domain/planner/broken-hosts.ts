import type { BrokenHost, Inventory } from '../inventory/schema.js';

/** A host a plan goes on without because it could not be read (`--skip-broken`). */
export interface SkippedHost {
  readonly name: string;
  /** What is wrong with it: the field, or nix's own message. */
  readonly reason: string;
}

/** Whether the targets mean every machine (none given, or `all`). */
export const isPlanOfAll = (targets: readonly string[]): boolean =>
  targets.length === 0 || targets.includes('all');

/** The groups the targets name, without their `@`. */
export const groupsOf = (targets: readonly string[]): string[] =>
  targets.filter((target) => target.startsWith('@')).map((target) => target.slice(1));

/**
 * The broken hosts a plan of these targets would leave out, in inventory order. A plan of all
 * leaves out every one. A plan of @groups leaves out those whose `lab.machine` names one of the
 * groups, and those whose groups could not be read: they may be in any group. Machines named
 * one by one leave out none (naming a broken host is refused when the targets are resolved).
 */
export function brokenHostsIn(
  inventory: Pick<Inventory, 'broken'>,
  targets: readonly string[],
): BrokenHost[] {
  if (isPlanOfAll(targets)) return [...inventory.broken];
  const groups = groupsOf(targets);
  if (groups.length === 0) return [];
  return inventory.broken.filter(
    (host) => !host.groups || host.groups.some((group) => groups.includes(group)),
  );
}
