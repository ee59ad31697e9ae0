/**
 * Parsers of what a machine prints for a change preview: `nix store diff-closures`,
 * `nix path-info --json --closure-size` and `switch-to-configuration dry-activate`. Pure.
 */

/** One package of a closure diff: its versions before and after, and how its size changed. */
export interface PackageChange {
  readonly name: string;
  /** Versions only the old closure has (`""` for a path without a version, nix's ε). */
  readonly before: readonly string[];
  /** Versions only the new closure has. */
  readonly after: readonly string[];
  /** Size change in bytes, when nix shows one (it does from 8 KiB up); else null. */
  readonly sizeDelta: number | null;
}

/** A closure diff sorted by what happened to each package. */
export interface ClosureDiff {
  /** In both closures, with other versions (`linux: 6.6.30 → 6.6.31`). */
  readonly changed: readonly PackageChange[];
  /** Only in the new closure (`∅ → 2.12`). */
  readonly added: readonly PackageChange[];
  /** Only in the old closure (`1.0 → ∅`). */
  readonly removed: readonly PackageChange[];
  /** Same versions, another size (a rebuild with other dependencies). */
  readonly resized: readonly PackageChange[];
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what is removed
const ANSI = /\u001b\[[0-9;]*m/g;
const SIZE = /(?:^|, )([+-]\d+(?:\.\d+)?) KiB$/;

const versions = (text: string): string[] =>
  text === '∅' ? [] : text.split(', ').map((version) => (version === 'ε' ? '' : version));

/**
 * Parses `nix store diff-closures` output: `name: before → after[, ±N KiB]` or `name: ±N KiB`,
 * versions joined by ", ", ∅ for none and ε for an empty version (nix colours the size; the
 * colours are dropped). Lines of another shape (warnings) are ignored.
 */
export function parseDiffClosures(output: string): ClosureDiff {
  const changed: PackageChange[] = [];
  const added: PackageChange[] = [];
  const removed: PackageChange[] = [];
  const resized: PackageChange[] = [];
  for (const raw of output.replace(ANSI, '').split('\n')) {
    const line = raw.trim();
    const colon = line.indexOf(': ');
    if (colon <= 0 || line.startsWith('warning:') || line.startsWith('error:')) continue;
    const name = line.slice(0, colon);
    let rest = line.slice(colon + 2);
    const size = SIZE.exec(rest);
    const sizeDelta = size ? Math.round(Number(size[1]) * 1024) : null;
    if (size) rest = rest.slice(0, size.index);
    if (rest === '') {
      if (sizeDelta !== null) resized.push({ name, before: [], after: [], sizeDelta });
      continue;
    }
    const arrow = rest.indexOf(' → ');
    if (arrow < 0) continue;
    const change = {
      name,
      before: versions(rest.slice(0, arrow)),
      after: versions(rest.slice(arrow + 3)),
      sizeDelta,
    };
    if (change.before.length === 0) added.push(change);
    else if (change.after.length === 0) removed.push(change);
    else changed.push(change);
  }
  return { changed, added, removed, resized };
}

/**
 * Parses `nix path-info --json --closure-size`: a list of `{path, closureSize}` (Nix < 2.19) or
 * an object keyed by path (newer). Returns path → closure size in bytes.
 */
export function parseClosureSizes(output: string): Map<string, number> {
  const data: unknown = JSON.parse(output);
  const sizes = new Map<string, number>();
  const add = (path: unknown, info: unknown) => {
    const size = (info as { closureSize?: unknown } | null)?.closureSize;
    if (typeof path === 'string' && typeof size === 'number') sizes.set(path, size);
  };
  if (Array.isArray(data)) for (const entry of data) add((entry as { path?: unknown })?.path, entry);
  else if (data && typeof data === 'object') for (const [path, info] of Object.entries(data)) add(path, info);
  return sizes;
}

/** What `switch-to-configuration dry-activate` says it would do, list by list as it prints them. */
export interface DryActivation {
  readonly stop: readonly string[];
  readonly start: readonly string[];
  readonly restart: readonly string[];
  readonly reload: readonly string[];
  /** "would NOT stop the following changed units": changed, left running (restartIfChanged = false). */
  readonly notStopped: readonly string[];
  /** "would restart systemd". */
  readonly restartSystemd: boolean;
}

/** The units as a reader thinks of them: a unit stopped and started again is restarted. */
export interface UnitChanges {
  readonly started: readonly string[];
  readonly stopped: readonly string[];
  readonly restarted: readonly string[];
  readonly reloaded: readonly string[];
  /** Changed but left running by NixOS (restartIfChanged = false). */
  readonly notRestarted: readonly string[];
  readonly restartSystemd: boolean;
}

const LISTS = [
  ['would stop the following units: ', 'stop'],
  ['would NOT stop the following changed units: ', 'notStopped'],
  ['would restart the following units: ', 'restart'],
  ['would start the following units: ', 'start'],
  ['would reload the following units: ', 'reload'],
] as const;

/**
 * Parses NixOS's `switch-to-configuration dry-activate` output (the Perl script's and
 * switch-to-configuration-ng's lines are the same): `would stop the following units: a, b`,
 * `would NOT stop the following changed units: …`, `would restart …`, `would start …`,
 * `would reload …`, `would restart systemd`. Other lines (what the activation script prints) are
 * ignored.
 */
export function parseDryActivate(output: string): DryActivation {
  const lists: Record<(typeof LISTS)[number][1], string[]> = {
    stop: [],
    notStopped: [],
    restart: [],
    start: [],
    reload: [],
  };
  let restartSystemd = false;
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (line === 'would restart systemd') restartSystemd = true;
    for (const [prefix, key] of LISTS) {
      if (line.startsWith(prefix))
        lists[key].push(
          ...line
            .slice(prefix.length)
            .split(',')
            .map((unit) => unit.trim())
            .filter(Boolean),
        );
    }
  }
  return { ...lists, restartSystemd };
}

/**
 * The units by what happens to them. NixOS stops a changed service and starts it again (its
 * default `stopIfChanged`): in both the stop and the start list, it is restarted.
 */
export function unitChanges(dry: DryActivation): UnitChanges {
  const stop = new Set(dry.stop);
  const start = new Set(dry.start);
  const sorted = (units: Iterable<string>) => [...new Set(units)].sort();
  return {
    started: sorted(dry.start.filter((unit) => !stop.has(unit))),
    stopped: sorted(dry.stop.filter((unit) => !start.has(unit))),
    restarted: sorted([...dry.restart, ...dry.stop.filter((unit) => start.has(unit))]),
    reloaded: sorted(dry.reload),
    notRestarted: sorted(dry.notStopped),
    restartSystemd: dry.restartSystemd,
  };
}
