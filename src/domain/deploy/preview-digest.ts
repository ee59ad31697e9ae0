import { createHash } from 'node:crypto';
import type { DeployStep } from '../planner/deploy-steps.js';

/**
 * A short digest of a deploy plan and the exact systems it would activate: the steps (strategy,
 * rebootOrder, machines and their criticality, in order) and each machine's new store path. An
 * approval bound to it is void when any of that changes — another flake revision gives other
 * store paths, so another digest. Pure; the same plan and paths always give the same digest,
 * whatever the order of `systems`.
 */
export function previewDigest(steps: readonly DeployStep[], systems: ReadonlyMap<string, string>): string {
  const plan = steps.map((step) => [
    step.strategy,
    step.rebootOrder,
    step.machines.map((machine) => [machine.name, machine.criticalityLevel]),
  ]);
  const paths = [...systems].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256')
    .update(JSON.stringify(['deploy-preview', plan, paths]))
    .digest('hex')
    .slice(0, 16);
}

/** The store paths a preview was made of (machines whose system built), for {@link previewDigest}. */
export function previewedSystems(
  previews: readonly { readonly machine: string; readonly system: string | null }[],
): Map<string, string> {
  return new Map(
    previews.flatMap((preview) =>
      preview.system === null ? [] : [[preview.machine, preview.system] as const],
    ),
  );
}
