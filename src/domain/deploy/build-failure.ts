import { z } from 'zod';
import { type NixSettings, runNix } from '../../transport/process/nix.js';
import type { SystemPaths } from './build-systems.js';
import { BuildError } from './errors.js';

/** A derivation nix could not build, and nix's own words for why. */
export interface FailedDerivation {
  readonly drvPath: string;
  readonly message: string;
}

const DRV = /'(\/nix\/store\/[0-9a-z]{32}-[^'/]+\.drv)'/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes are control characters
const ANSI = /\u001b\[[0-9;]*m/g;

/**
 * The derivations that failed in a `nix build --keep-going`, read from its stderr: every `error:`
 * block (the line and the indented ones after it) that names a .drv, except those that only say
 * that a dependency failed or sum up the build (the dependency has a block of its own).
 */
export function failedDerivations(stderr: string): FailedDerivation[] {
  const blocks: string[][] = [];
  for (const raw of stderr.replace(ANSI, '').split('\n')) {
    if (raw.startsWith('error:')) blocks.push([raw]);
    else if (/^\s/.test(raw) && raw.trim() !== '') blocks.at(-1)?.push(raw);
    else if (blocks.at(-1)?.length) blocks.push([]); // a line of its own ends the block
  }
  const failed = new Map<string, string>();
  for (const block of blocks) {
    const text = block.join('\n');
    const drv = DRV.exec(text)?.[1];
    if (!drv || failed.has(drv)) continue;
    if (/dependenc(y|ies)\b.*\bfailed/i.test(text) || /^error: build of /.test(text)) continue;
    const message = block
      .map((line) => line.trim())
      .filter((line) => !line.startsWith('For full logs, run') && !line.startsWith('nix log '))
      .join(' ')
      .replace(/^error:\s*/, '')
      .replace(/\s+/g, ' ')
      .trim();
    failed.set(drv, message);
  }
  return [...failed].map(([drvPath, message]) => ({ drvPath, message }));
}

const pathInfoList = z.array(
  z.looseObject({
    path: z.string(),
    valid: z.boolean().optional(),
    references: z.array(z.string()).optional(),
  }),
);
const pathInfoMap = z.record(
  z.string(),
  z.looseObject({ references: z.array(z.string()).optional() }).nullable(),
);

/**
 * `nix path-info --json`: path → its references, or null when the path is not valid. Nix before
 * 2.19 prints a list (`{"path", "valid": false}` for an invalid path), later ones an object keyed
 * by path (null for an invalid one).
 */
export function parsePathInfo(json: string): Map<string, readonly string[] | null> {
  const data: unknown = JSON.parse(json);
  if (Array.isArray(data))
    return new Map(
      pathInfoList
        .parse(data)
        .map((entry) => [entry.path, entry.valid === false ? null : (entry.references ?? [])]),
    );
  return new Map(
    Object.entries(pathInfoMap.parse(data)).map(([path, info]) => [
      path,
      info ? (info.references ?? []) : null,
    ]),
  );
}

/** Every path reachable from `root` through the references in `graph`, `root` included. */
export function closureOf(graph: ReadonlyMap<string, readonly string[] | null>, root: string): Set<string> {
  const seen = new Set<string>();
  const todo = [root];
  for (let path = todo.pop(); path !== undefined; path = todo.pop()) {
    if (seen.has(path)) continue;
    seen.add(path);
    for (const reference of graph.get(path) ?? []) if (!seen.has(reference)) todo.push(reference);
  }
  return seen;
}

/**
 * Which machines' systems did not build, each with the failed derivations of its own closure
 * (nix's message for each); `fallback` when none of them was reported. Pure.
 */
export function attributeFailures(
  systems: ReadonlyMap<string, SystemPaths>,
  built: ReadonlySet<string>,
  failed: readonly FailedDerivation[],
  derivations: ReadonlyMap<string, readonly string[] | null>,
  fallback: string,
): { failures: Map<string, string>; built: string[] } {
  const failures = new Map<string, string>();
  const fine: string[] = [];
  for (const [machine, paths] of systems) {
    if (built.has(paths.outPath)) {
      fine.push(machine);
      continue;
    }
    const closure = closureOf(derivations, paths.drvPath);
    const own = failed.filter((drv) => closure.has(drv.drvPath));
    failures.set(machine, own.length > 0 ? own.map((drv) => drv.message).join('; ') : fallback);
  }
  return { failures, built: fine };
}

/**
 * After a failed `nix build --keep-going` of the systems: which of them were built and, for the
 * others, which failed derivation is behind each (two nix calls for all machines, on this path
 * only). Returns the BuildError to throw, or null when every system was built after all.
 */
export async function explainBuildFailure(
  nix: NixSettings,
  systems: ReadonlyMap<string, SystemPaths>,
  failure: { readonly message: string; readonly stderr: string },
  signal?: AbortSignal,
): Promise<BuildError | null> {
  const local = ['--option', 'substitute', 'false'];
  const outPaths = [...systems.values()].map((paths) => paths.outPath);
  const validity = await runNix(nix, [...local, 'path-info', '--json', ...outPaths], { signal });
  if (!validity.ok) return new BuildError(failure.message);
  const built = new Set(
    [...parsePathInfo(validity.stdout)].filter(([, references]) => references !== null).map(([path]) => path),
  );
  const notBuilt = [...systems.values()].filter((paths) => !built.has(paths.outPath));
  if (notBuilt.length === 0) return null;
  const closures = await runNix(
    nix,
    [
      ...local,
      'path-info',
      '--json',
      '--recursive',
      '--derivation',
      ...notBuilt.map((paths) => paths.drvPath),
    ],
    { signal },
  );
  const derivations = closures.ok ? parsePathInfo(closures.stdout) : new Map<string, string[] | null>();
  const attributed = attributeFailures(
    systems,
    built,
    failedDerivations(failure.stderr),
    derivations,
    failure.message,
  );
  return BuildError.ofMachines(attributed.failures, attributed.built);
}
