import type { NixSettings } from '../../transport/process/nix.js';
import { mapConcurrent } from '../../util/map-concurrent.js';
import { type BootComponent, bootChanges } from '../hosts/host-facts.js';
import type { Machine } from '../inventory/schema.js';
import { planBuild } from './build-systems.js';
import { type MachinePreview, type PreviewTarget, previewChanges } from './change-preview.js';
import type { DeployHost } from './deploy-host.js';
import { BuildError } from './errors.js';
import type { PreviewHost } from './preview-host.js';

/** One machine in a dry run. */
export interface DryRunMachine {
  /** The new system's store path (evaluated, not built). */
  readonly system: string;
  /** What it runs now (/run/current-system). */
  readonly current: string | null;
  readonly reachable: boolean;
  readonly error: string | null;
  /**
   * Whether the new system would need a reboot: its kernel, initrd or modules differ from what the
   * machine booted (/run/booted-system). null when that cannot be told (unreachable, or no booted
   * system or no kernel to compare).
   */
  readonly needsReboot: boolean | null;
  /** Which of kernel, initrd and modules would change. */
  readonly bootChanges: readonly BootComponent[];
  /** What deploying would change there (packages, closure size, units); null without a preview. */
  readonly preview: MachinePreview | null;
}

/**
 * What `lab deploy --dry-run` found: nothing activated. Without a preview nothing is built or
 * copied either; with one, the systems are built and copied into the machines' stores.
 */
export interface DryRunPlan {
  /** Derivations nix would build. */
  readonly toBuild: readonly string[];
  readonly machines: ReadonlyMap<string, DryRunMachine>;
}

/**
 * Evaluates (without building) each machine's system with the kernel, initrd and modules it links
 * to — in the one evaluation of all machines — and reads what each machine runs and booted.
 */
/** Builds the machines' systems for a preview (here, or on the machines): name → store path. */
export type PreviewBuild = (machines: readonly Machine[]) => Promise<ReadonlyMap<string, string>>;

export async function dryRun(
  nix: NixSettings,
  flake: string,
  machines: readonly Machine[],
  host: Pick<DeployHost, 'systems'>,
  options: { preview?: { build: PreviewBuild; host: PreviewHost } } = {},
): Promise<DryRunPlan> {
  const { paths, toBuild } = await planBuild(
    nix,
    flake,
    machines.map((machine) => machine.name),
  );
  const entries = await mapConcurrent(machines, 16, async (machine): Promise<DryRunMachine> => {
    const path = paths.get(machine.name);
    const system = path?.outPath as string;
    try {
      const now = await host.systems(machine);
      const changes = path?.boot && now.booted ? bootChanges(path.boot, now.booted) : null;
      return {
        system,
        current: now.current,
        reachable: true,
        error: null,
        needsReboot: changes === null ? null : changes.length > 0,
        bootChanges: changes ?? [],
        preview: null,
      };
    } catch (error) {
      return {
        system,
        current: null,
        reachable: false,
        error: (error as Error).message,
        needsReboot: null,
        bootChanges: [],
        preview: null,
      };
    }
  });
  const previews = options.preview
    ? await previewChanges(
        options.preview.host,
        machines,
        await previewTargets(machines, paths, options.preview.build),
      )
    : null;
  return {
    toBuild,
    machines: new Map(
      machines.map((machine, index) => [
        machine.name,
        { ...(entries[index] as DryRunMachine), preview: previews?.[index] ?? null },
      ]),
    ),
  };
}

/**
 * Builds the systems and says, per machine, which to preview: the built system, or why it did
 * not build (a machine whose system fails does not keep the others from being previewed).
 */
async function previewTargets(
  machines: readonly Machine[],
  paths: Awaited<ReturnType<typeof planBuild>>['paths'],
  build: PreviewBuild,
): Promise<Map<string, PreviewTarget>> {
  let failures: ReadonlyMap<string, string> = new Map();
  let everyone: string | null = null;
  try {
    await build(machines);
  } catch (error) {
    if (!(error instanceof BuildError)) throw error;
    failures = error.failures;
    if (error.failures.size === 0) everyone = error.reason;
  }
  return new Map(
    machines.map((machine): [string, PreviewTarget] => {
      const path = paths.get(machine.name);
      const failed =
        everyone ?? failures.get(machine.name) ?? (path ? null : 'no system was evaluated for it');
      return [
        machine.name,
        failed !== null || !path ? { failed: failed ?? '' } : { system: path.outPath, boot: path.boot },
      ];
    }),
  );
}
