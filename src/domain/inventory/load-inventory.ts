import { flakeFailure, type NixSettings, runNix } from '../../transport/process/nix.js';
import { mapConcurrent } from '../../util/map-concurrent.js';
import { EVAL_ALL_HOSTS, EVAL_HOST_NAMES, EVAL_ONE_HOST, HOST_ENV } from './eval-expression.js';
import { flakeRevision } from './flake-revision.js';
import { cacheKey, type InventoryCache } from './inventory-cache.js';
import { parseHosts, type RawHost, type RawHosts, rawHostSchema, rawHostsSchema } from './parse-hosts.js';
import type { Inventory } from './schema.js';
import { isValidMachineName } from './schema.js';

export interface LoadInventoryOptions {
  readonly flake: string;
  readonly nix: NixSettings;
  /** Omit to always evaluate. */
  readonly cache?: InventoryCache;
  readonly signal?: AbortSignal;
}

/** Bumped whenever the evaluation expressions change shape, so old cache entries are not read. */
const EVALUATION_VERSION = 1;
/** Error-path diagnosis runs at most this many nix processes at once. */
const DIAGNOSIS_CONCURRENCY = 4;

/**
 * Reads every host's `lab.machine` from `<flake>#nixosConfigurations` in ONE `nix eval`, cached by
 * the flake's narHash. A host that fails to evaluate is reported with nix's message and does not
 * hide the others; only such hosts cost an evaluation of their own (to obtain the message).
 */
export async function loadInventory(options: LoadInventoryOptions): Promise<Inventory> {
  const { flake, nix, cache } = options;
  const { revision, locks } = await flakeRevision(nix, flake);
  const key =
    revision === null ? null : cacheKey([EVALUATION_VERSION, revision, locks, nix.bin, nix.options]);

  let raw = key && cache ? await cache.get(key) : undefined;
  if (!raw) {
    raw = await evaluateHosts(options);
    if (key && cache) await cache.set(key, raw);
  }
  const { machines, unmanaged, broken } = parseHosts(raw);
  const warnings = broken.map((host) => `${host.name} could not be read: ${host.error}`);
  return { flake, revision, machines, unmanaged, broken, warnings };
}

async function evaluateHosts(options: LoadInventoryOptions): Promise<RawHosts> {
  const batch = await evalConfigurations(options, EVAL_ALL_HOSTS);
  if (batch.ok) {
    const hosts = rawHostsSchema.parse(JSON.parse(batch.stdout));
    const brokenNames = Object.keys(hosts).filter((name) => hosts[name]?.status === 'broken');
    const diagnosed = await diagnoseHosts(options, brokenNames);
    return { ...hosts, ...diagnosed };
  }
  // Something nix cannot catch in-language (abort, a type error) stopped the batch. Find out
  // which host it was: list the names, then evaluate each host on its own.
  const names = await evalConfigurations(options, EVAL_HOST_NAMES);
  if (!names.ok) throw flakeFailure(options.flake, batch.failure);
  const list = JSON.parse(names.stdout) as string[];
  return diagnoseHosts(options, list);
}

function evalConfigurations(options: LoadInventoryOptions, apply: string, host?: string) {
  const installable = `${options.flake}#nixosConfigurations`;
  const args = ['eval', '--json', '--no-write-lock-file', installable, '--apply', apply];
  return host === undefined
    ? runNix(options.nix, args, { signal: options.signal })
    : runNix(options.nix, ['eval', '--impure', ...args.slice(1)], {
        env: { [HOST_ENV]: host },
        signal: options.signal,
      });
}

/** Evaluates each named host on its own, so that nix names the error of the ones that fail. */
async function diagnoseHosts(options: LoadInventoryOptions, names: readonly string[]): Promise<RawHosts> {
  const results = await mapConcurrent(names, DIAGNOSIS_CONCURRENCY, (name) => diagnoseHost(options, name));
  return Object.fromEntries(names.map((name, index) => [name, results[index] as RawHost]));
}

async function diagnoseHost(options: LoadInventoryOptions, name: string): Promise<RawHost> {
  // An invalid name is refused by parseHosts; it is never handed to nix.
  if (!isValidMachineName(name)) return { status: 'broken', error: 'invalid host name' };
  const result = await evalConfigurations(options, EVAL_ONE_HOST, name);
  if (!result.ok) return { status: 'broken', error: `evaluation failed: ${result.failure.message}` };
  const parsed = rawHostSchema.safeParse(JSON.parse(result.stdout));
  return parsed.success
    ? parsed.data
    : { status: 'broken', error: 'evaluation returned an unexpected value' };
}
