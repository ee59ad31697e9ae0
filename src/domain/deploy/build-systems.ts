import { z } from 'zod';
import { type NixSettings, runNix } from '../../transport/process/nix.js';
import type { BootParts } from '../hosts/host-facts.js';
import { isValidMachineName } from '../inventory/schema.js';
import { explainBuildFailure } from './build-failure.js';
import { BuildError } from './errors.js';

/**
 * The installable of a machine's system. Machine names are validated host names (letters,
 * digits, dashes) before they get here; they are quoted as an attribute name all the same.
 */
export function toplevelInstallable(flake: string, machine: string): string {
  if (!isValidMachineName(machine)) throw new BuildError(`'${machine}' is not a valid machine name`);
  return `${flake}#nixosConfigurations."${machine}".config.system.build.toplevel`;
}

/** Environment variable carrying the machine names (JSON) into {@link EVAL_SYSTEM_PATHS}. */
const HOSTS_ENV = 'LAB_EVAL_HOSTS';

/**
 * machine → its toplevel's store path and derivation, for the machines named in the environment,
 * and the kernel, initrd and modules its toplevel links to, as NixOS's boot/kernel.nix links them
 * (`kernel` → `<kernel>/<kernelFile>`, `initrd` → `<initialRamdisk>/<initrdFile>`,
 * `kernel-modules` → `modulesTree`): known without building. null where the configuration has no
 * kernel (a container) or is not shaped like NixOS's. (Not `outPath`: nix would print an
 * attribute set with an outPath as that string.)
 */
const EVAL_SYSTEM_PATHS = `configurations: let
  bootParts = c:
    if (c.boot.kernel.enable or true) && !(c.boot.isContainer or false)
      && c ? boot.kernelPackages.kernel && c ? system.boot.loader.kernelFile
      && c ? system.build.initialRamdisk && c ? system.boot.loader.initrdFile && c ? system.modulesTree
    then {
      kernel = "\${c.boot.kernelPackages.kernel}/\${c.system.boot.loader.kernelFile}";
      initrd = if c.boot.initrd.enable or true
        then "\${c.system.build.initialRamdisk}/\${c.system.boot.loader.initrdFile}" else null;
      kernel-modules = "\${c.system.modulesTree}";
    } else null;
in builtins.listToAttrs (map
  (name: let config = configurations.\${name}.config; toplevel = config.system.build.toplevel; in
    { inherit name; value = { out = toplevel.outPath; drv = toplevel.drvPath; boot = bootParts config; }; })
  (builtins.fromJSON (builtins.getEnv "${HOSTS_ENV}")))`;

export interface SystemPaths {
  readonly outPath: string;
  readonly drvPath: string;
  /** The kernel, initrd and modules the system links to (from evaluation); null if it has none. */
  readonly boot: BootParts | null;
}

const bootPartsSchema = z
  .object({ kernel: z.string(), initrd: z.string().nullable(), 'kernel-modules': z.string() })
  .nullable()
  .default(null);

/**
 * Each machine's system path, from ONE evaluation. `nix build --json` does not report results in
 * the order of its installables, so the mapping comes from here, never from the build's output.
 */
export async function systemPaths(
  nix: NixSettings,
  flake: string,
  machines: readonly string[],
  signal?: AbortSignal,
): Promise<Map<string, SystemPaths>> {
  for (const machine of machines) toplevelInstallable(flake, machine); // refuses invalid names
  const result = await runNix(
    nix,
    [
      'eval',
      '--json',
      '--impure',
      '--no-write-lock-file',
      `${flake}#nixosConfigurations`,
      '--apply',
      EVAL_SYSTEM_PATHS,
    ],
    { env: { [HOSTS_ENV]: JSON.stringify(machines) }, signal },
  );
  if (!result.ok) throw new BuildError(result.failure.message);
  const paths = z
    .record(z.string(), z.object({ out: z.string(), drv: z.string(), boot: bootPartsSchema }))
    .parse(JSON.parse(result.stdout));
  return new Map(
    machines.map((machine) => {
      const path = paths[machine] as { out: string; drv: string; boot: BootParts | null };
      return [machine, { outPath: path.out, drvPath: path.drv, boot: path.boot }];
    }),
  );
}

const buildResultSchema = z.array(z.object({ drvPath: z.string(), outputs: z.object({ out: z.string() }) }));

/**
 * Builds every machine's system in ONE `nix build` (nix schedules them together), before any
 * machine is touched. Returns machine → store path. With `--keep-going` every system that can be
 * built is: when some cannot, the BuildError names each machine whose system failed (and the
 * failed derivation of its own closure behind it) and the machines whose systems built fine.
 */
export async function buildSystems(
  nix: NixSettings,
  flake: string,
  machines: readonly string[],
  options: { signal?: AbortSignal } = {},
): Promise<Map<string, string>> {
  if (machines.length === 0) return new Map();
  const paths = await systemPaths(nix, flake, machines, options.signal);
  const systems = outPaths(paths);
  const result = await runNix(
    nix,
    [
      'build',
      '--no-link',
      '--json',
      '--keep-going',
      '--no-write-lock-file',
      ...installables(flake, machines),
    ],
    { signal: options.signal },
  );
  if (!result.ok) {
    if (options.signal?.aborted) throw new BuildError(result.failure.message);
    const error = await explainBuildFailure(
      nix,
      paths,
      { message: result.failure.message, stderr: result.stderr },
      options.signal,
    );
    if (error) throw error;
    return systems; // nix failed, but every system is in the store
  }
  const built = new Set(buildResultSchema.parse(JSON.parse(result.stdout)).map((entry) => entry.outputs.out));
  const missing = [...systems].filter(([, path]) => !built.has(path)).map(([machine]) => machine);
  if (missing.length > 0) throw new BuildError(`nix did not report a built system for ${missing.join(', ')}`);
  return systems;
}

/**
 * What a build would do, without building: each machine's system path (and its kernel, initrd and
 * modules) and the derivations to build.
 */
export async function planBuild(
  nix: NixSettings,
  flake: string,
  machines: readonly string[],
): Promise<{ systems: Map<string, string>; paths: Map<string, SystemPaths>; toBuild: string[] }> {
  if (machines.length === 0) return { systems: new Map(), paths: new Map(), toBuild: [] };
  const paths = await systemPaths(nix, flake, machines);
  const systems = outPaths(paths);
  const result = await runNix(nix, [
    'build',
    '--dry-run',
    '--no-link',
    '--json',
    '--no-write-lock-file',
    ...installables(flake, machines),
  ]);
  if (!result.ok) throw new BuildError(result.failure.message);
  // nix lists what it would build on stderr: "these N derivations will be built:" then paths.
  const toBuild = result.stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^\/nix\/store\/\S+\.drv$/.test(line));
  return { systems, paths, toBuild };
}

const installables = (flake: string, machines: readonly string[]) =>
  machines.map((machine) => toplevelInstallable(flake, machine));

const outPaths = (paths: Map<string, SystemPaths>) =>
  new Map([...paths].map(([machine, path]) => [machine, path.outPath]));
