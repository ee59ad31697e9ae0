import type { NixSettings } from '../../transport/process/nix.js';
import { mapConcurrent } from '../../util/map-concurrent.js';
import type { Machine } from '../inventory/schema.js';
import { planBuild } from './build-systems.js';
import type { DeployHost } from './deploy-host.js';

/** What `lab deploy --dry-run` found: nothing built, copied or activated. */
export interface DryRunPlan {
  /** Derivations nix would build. */
  readonly toBuild: readonly string[];
  readonly machines: ReadonlyMap<
    string,
    { system: string; current: string | null; reachable: boolean; error: string | null }
  >;
}

/** Evaluates (without building) each machine's system and reads what each machine runs now. */
export async function dryRun(
  nix: NixSettings,
  flake: string,
  machines: readonly Machine[],
  host: Pick<DeployHost, 'systems'>,
): Promise<DryRunPlan> {
  const { systems, toBuild } = await planBuild(
    nix,
    flake,
    machines.map((machine) => machine.name),
  );
  const current = await mapConcurrent(machines, 16, async (machine) => {
    try {
      return { current: (await host.systems(machine)).current, reachable: true, error: null };
    } catch (error) {
      return { current: null, reachable: false, error: (error as Error).message };
    }
  });
  return {
    toBuild,
    machines: new Map(
      machines.map((machine, index) => [
        machine.name,
        { system: systems.get(machine.name) as string, ...(current[index] as (typeof current)[number]) },
      ]),
    ),
  };
}
