import type { NixSettings } from '../../transport/process/nix.js';
import { mapConcurrent } from '../../util/map-concurrent.js';
import type { Machine } from '../inventory/schema.js';
import { type SystemPaths, systemPaths } from './build-systems.js';
import type { SshDeployHost } from './ssh-deploy-host.js';

/** Every system built on its own machine (all of them before any is activated): name → path. */
export async function buildOnTargets(
  host: SshDeployHost,
  nix: NixSettings,
  flake: string,
  machines: readonly Machine[],
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  const names = machines.map((machine) => machine.name);
  const paths = await systemPaths(nix, flake, names, signal);
  await mapConcurrent(machines, 4, (machine) =>
    host.buildOnTarget(machine, paths.get(machine.name) as SystemPaths),
  );
  return new Map([...paths].map(([name, path]) => [name, path.outPath]));
}
