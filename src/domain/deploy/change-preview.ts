import { mapConcurrent } from '../../util/map-concurrent.js';
import { type BootComponent, type BootParts, bootChanges } from '../hosts/host-facts.js';
import type { Machine } from '../inventory/schema.js';
import { PreviewStepError } from './errors.js';
import type { PreviewHost } from './preview-host.js';
import {
  type ClosureDiff,
  parseDiffClosures,
  parseDryActivate,
  type UnitChanges,
  unitChanges,
} from './preview-parsers.js';

/** The steps of a machine's preview, each of which can fail on its own. */
export type PreviewStep = 'build' | 'read' | 'copy' | 'diff' | 'size' | 'dry-activate';

/** A step that failed: what the preview could not tell, and why. */
export interface PreviewProblem {
  readonly step: PreviewStep;
  readonly reason: string;
}

/** What deploying the new system would change on one machine. */
export interface MachinePreview {
  readonly machine: string;
  /** The new system (null when it did not build). */
  readonly system: string | null;
  /** What the machine runs now (/run/current-system); null when it could not be read. */
  readonly current: string | null;
  /** Whether the new system is another than the running one; null when unknown. */
  readonly changes: boolean | null;
  /** Packages whose versions change, added, removed (`nix store diff-closures` on the machine). */
  readonly packages: ClosureDiff | null;
  /** Closure sizes in bytes, as the machine's store has them. */
  readonly closureSize: { readonly before: number; readonly after: number; readonly delta: number } | null;
  /** Kernel, initrd and modules against what the machine booted: a reboot will be needed if any. */
  readonly needsReboot: boolean | null;
  readonly bootChanges: readonly BootComponent[];
  /** systemd units activation would start, stop, restart, reload (`dry-activate` on the machine). */
  readonly units: UnitChanges | null;
  /** The steps that failed, in order; the others' results still stand. */
  readonly problems: readonly PreviewProblem[];
}

/** The new system of a machine, or why there is none. */
export type PreviewTarget =
  | { readonly system: string; readonly boot: BootParts | null }
  | { readonly failed: string };

/** Where NixOS systems live; a running system elsewhere cannot be diffed by nix. */
const STORE_DIR = '/nix/store/';

const NO_PACKAGES: ClosureDiff = { changed: [], added: [], removed: [], resized: [] };
const NO_UNITS: UnitChanges = {
  started: [],
  stopped: [],
  restarted: [],
  reloaded: [],
  notRestarted: [],
  restartSystemd: false,
};

const reasonOf = (error: unknown): string =>
  error instanceof PreviewStepError ? error.reason : (error as Error).message;

/**
 * One machine's preview: read what it runs, copy the new closure into its store (which changes
 * nothing that runs), diff the closures there, read their sizes and ask the new system's
 * switch-to-configuration what it would do (dry-activate). A failed step is recorded and the
 * steps that do not need it still run; nothing is activated.
 */
export async function previewMachine(
  host: PreviewHost,
  machine: Machine,
  target: PreviewTarget,
): Promise<MachinePreview> {
  const problems: PreviewProblem[] = [];
  const empty = {
    machine: machine.name,
    system: null,
    current: null,
    changes: null,
    packages: null,
    closureSize: null,
    needsReboot: null,
    bootChanges: [],
    units: null,
    problems,
  };
  if ('failed' in target) {
    problems.push({ step: 'build', reason: target.failed });
    return empty;
  }
  const { system } = target;
  let systems: Awaited<ReturnType<PreviewHost['systems']>>;
  try {
    systems = await host.systems(machine);
  } catch (error) {
    problems.push({ step: 'read', reason: reasonOf(error) });
    return { ...empty, system };
  }
  const { current } = systems;
  const boot = target.boot && systems.booted ? bootChanges(target.boot, systems.booted) : null;
  const base = {
    ...empty,
    system,
    current,
    changes: current === null ? null : current !== system,
    needsReboot: boot === null ? null : boot.length > 0,
    bootChanges: boot ?? [],
  };
  if (current === system) return { ...base, packages: NO_PACKAGES, units: NO_UNITS };
  try {
    await host.copy(machine, system);
  } catch (error) {
    problems.push({ step: 'copy', reason: reasonOf(error) });
    return base;
  }
  let packages: ClosureDiff | null = null;
  let closureSize: MachinePreview['closureSize'] = null;
  if (current === null) {
    problems.push({ step: 'diff', reason: 'the machine has no /run/current-system to compare with' });
  } else if (!current.startsWith(STORE_DIR)) {
    problems.push({
      step: 'diff',
      reason: `what it runs (${current}) is not in its Nix store, so nix cannot compare it`,
    });
  } else {
    try {
      packages = parseDiffClosures(await host.diffClosures(machine, current, system));
    } catch (error) {
      problems.push({ step: 'diff', reason: reasonOf(error) });
    }
    try {
      const sizes = await host.closureSizes(machine, [current, system]);
      const before = sizes.get(current);
      const after = sizes.get(system);
      if (before === undefined || after === undefined)
        throw new Error(`nix reported no closure size for ${before === undefined ? current : system}`);
      closureSize = { before, after, delta: after - before };
    } catch (error) {
      problems.push({ step: 'size', reason: reasonOf(error) });
    }
  }
  let units: UnitChanges | null = null;
  try {
    units = unitChanges(parseDryActivate(await host.dryActivate(machine, system)));
  } catch (error) {
    problems.push({ step: 'dry-activate', reason: reasonOf(error) });
  }
  return { ...base, packages, closureSize, units };
}

/**
 * Every machine's preview, in the order given (up to `concurrency` machines at once). A machine
 * whose steps fail is in it with its problems; the others are previewed all the same.
 */
export async function previewChanges(
  host: PreviewHost,
  machines: readonly Machine[],
  targets: ReadonlyMap<string, PreviewTarget>,
  concurrency = 4,
): Promise<MachinePreview[]> {
  return mapConcurrent(machines, concurrency, (machine) =>
    previewMachine(
      host,
      machine,
      targets.get(machine.name) ?? { failed: 'no new system was evaluated for it' },
    ),
  );
}
