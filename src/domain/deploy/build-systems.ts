import { z } from 'zod';
import { type NixSettings, runNix } from '../../transport/process/nix.js';
import { isValidMachineName } from '../inventory/schema.js';
import { BuildError } from './errors.js';

/**
 * The installable of a machine's system. Machine names are validated host names (letters,
 * digits, dashes) before they get here; they are quoted as an attribute name all the same.
 */
export function toplevelInstallable(flake: string, machine: string): string {
  if (!isValidMachineName(machine)) throw new BuildError(`'${machine}' is not a valid machine name`);
  return `${flake}#nixosConfigurations."${machine}".config.system.build.toplevel`;
}

const buildResultSchema = z.array(z.object({ drvPath: z.string(), outputs: z.object({ out: z.string() }) }));

/**
 * Builds every machine's system in ONE `nix build` (nix schedules them together), before any
 * machine is touched. Returns machine → store path, in the order given.
 */
export async function buildSystems(
  nix: NixSettings,
  flake: string,
  machines: readonly string[],
  options: { signal?: AbortSignal } = {},
): Promise<Map<string, string>> {
  return (await runBuild(nix, flake, machines, false, options.signal)).systems;
}

/**
 * What a build would do, without building: each machine's system path, and the derivations
 * nix would have to build.
 */
export async function planBuild(
  nix: NixSettings,
  flake: string,
  machines: readonly string[],
): Promise<{ systems: Map<string, string>; toBuild: string[] }> {
  return runBuild(nix, flake, machines, true);
}

async function runBuild(
  nix: NixSettings,
  flake: string,
  machines: readonly string[],
  dryRun: boolean,
  signal?: AbortSignal,
): Promise<{ systems: Map<string, string>; toBuild: string[] }> {
  if (machines.length === 0) return { systems: new Map(), toBuild: [] };
  const installables = machines.map((machine) => toplevelInstallable(flake, machine));
  const flags = ['build', '--no-link', '--json', '--no-write-lock-file', ...(dryRun ? ['--dry-run'] : [])];
  const result = await runNix(nix, [...flags, ...installables], { signal });
  if (!result.ok) throw new BuildError(result.failure.message);
  const built = buildResultSchema.safeParse(JSON.parse(result.stdout));
  if (!built.success || built.data.length !== machines.length) {
    throw new BuildError(`nix build returned an unexpected result: ${result.stdout.slice(0, 200)}`);
  }
  const systems = new Map(
    machines.map((machine, index) => [machine, built.data[index]?.outputs.out as string]),
  );
  // nix lists what it would build on stderr: "these N derivations will be built:" then paths.
  const toBuild = result.stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^\/nix\/store\/\S+\.drv$/.test(line));
  return { systems, toBuild };
}
