import type { NixSettings } from '../../transport/process/nix.js';
import { mapConcurrent } from '../../util/map-concurrent.js';
import type { Machine } from '../inventory/schema.js';
import { type SystemPaths, systemPaths } from './build-systems.js';
import { BuildError } from './errors.js';
import type { SshDeployHost } from './ssh-deploy-host.js';

/**
 * Every system built on its own machine (all of them before any is activated): name → path.
 * Every machine's build is tried; a BuildError names each machine whose system did not build.
 */
export async function buildOnTargets(
  host: SshDeployHost,
  nix: NixSettings,
  flake: string,
  machines: readonly Machine[],
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  const names = machines.map((machine) => machine.name);
  const paths = await systemPaths(nix, flake, names, signal);
  const failures = new Map<string, string>();
  await mapConcurrent(machines, 4, async (machine) => {
    try {
      await host.buildOnTarget(machine, paths.get(machine.name) as SystemPaths);
    } catch (error) {
      const reason = error instanceof BuildError ? error.reason : (error as Error).message;
      failures.set(machine.name, reason);
    }
  });
  if (failures.size > 0)
    throw BuildError.ofMachines(
      new Map(names.filter((name) => failures.has(name)).map((name) => [name, failures.get(name) as string])),
      names.filter((name) => !failures.has(name)),
    );
  return new Map([...paths].map(([name, path]) => [name, path.outPath]));
}
