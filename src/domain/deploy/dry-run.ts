import type { NixSettings } from '../../transport/process/nix.js';
import { mapConcurrent } from '../../util/map-concurrent.js';
import { type BootComponent, bootChanges } from '../hosts/host-facts.js';
import type { Machine } from '../inventory/schema.js';
import { planBuild } from './build-systems.js';
import type { DeployHost } from './deploy-host.js';

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
}

/** What `lab deploy --dry-run` found: nothing built, copied or activated. */
export interface DryRunPlan {
  /** Derivations nix would build. */
  readonly toBuild: readonly string[];
  readonly machines: ReadonlyMap<string, DryRunMachine>;
}

/**
 * Evaluates (without building) each machine's system with the kernel, initrd and modules it links
 * to — in the one evaluation of all machines — and reads what each machine runs and booted.
 */
export async function dryRun(
  nix: NixSettings,
  flake: string,
  machines: readonly Machine[],
  host: Pick<DeployHost, 'systems'>,
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
      };
    } catch (error) {
      return {
        system,
        current: null,
        reachable: false,
        error: (error as Error).message,
        needsReboot: null,
        bootChanges: [],
      };
    }
  });
  return {
    toBuild,
    machines: new Map(machines.map((machine, index) => [machine.name, entries[index] as DryRunMachine])),
  };
}
