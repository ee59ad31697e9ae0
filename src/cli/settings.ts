import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import {
  defaultCacheDir,
  FileInventoryCache,
  type InventoryCache,
} from '../domain/inventory/inventory-cache.js';
import { UsageError } from '../errors.js';
import type { NixSettings } from '../transport/process/nix.js';

/** Options every command that reads the flake accepts. */
export interface FlakeOptions {
  flake?: string;
  nix?: string;
  nixOption?: string[];
  cache?: boolean;
}

const envSchema = z.object({
  LAB_FLAKE: z.string().min(1).optional(),
  LAB_NIX: z.string().min(1).optional(),
  LAB_CACHE_DIR: z.string().min(1).optional(),
  LAB_NO_CACHE: z.enum(['1', 'true', '0', 'false', '']).optional(),
});

export interface FlakeSettings {
  readonly flake: string;
  readonly nix: NixSettings;
  readonly cache: InventoryCache | undefined;
}

/** Resolves flags over environment variables over defaults, validating both. */
export function flakeSettings(options: FlakeOptions, env: NodeJS.ProcessEnv = process.env): FlakeSettings {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`environment variable ${String(issue?.path[0])}: ${issue?.message}`);
  }
  const vars = parsed.data;
  const noCache = options.cache === false || vars.LAB_NO_CACHE === '1' || vars.LAB_NO_CACHE === 'true';
  return {
    flake: localFlakeRef(options.flake ?? vars.LAB_FLAKE ?? '.'),
    nix: { bin: options.nix ?? vars.LAB_NIX ?? 'nix', options: parseNixOptions(options.nixOption ?? []) },
    cache: noCache ? undefined : new FileInventoryCache(defaultCacheDir(env)),
  };
}

/**
 * nix reads `examples/homelab` as a registry reference, not a path; a user means the directory.
 * A bare relative path that exists locally is therefore given the `./` nix expects.
 */
export function localFlakeRef(ref: string): string {
  if (ref.includes(':') || ref.startsWith('.') || ref.startsWith('/')) return ref;
  return existsSync(ref) ? `./${ref}` : ref;
}

/**
 * A flake for a queued run: workers evaluate it in their own working directory, so a local path
 * (`.`, `./homelab`, `path:../x`) is made absolute where the user typed it. Other references
 * (`github:…`, `git+https://…`, registry names) are passed as they are.
 */
export function absoluteFlakeRef(ref: string, cwd: string = process.cwd()): string {
  if (ref.startsWith('.') || ref.startsWith('/')) return resolve(cwd, ref);
  const scheme = ['path:', 'git+file:'].find((prefix) => ref.startsWith(prefix));
  if (scheme && !ref.startsWith(`${scheme}/`)) {
    const [path = '', query] = ref.slice(scheme.length).split('?', 2);
    return `${scheme}${resolve(cwd, path)}${query === undefined ? '' : `?${query}`}`;
  }
  return ref;
}

/** `--nix-option name=value` (repeatable) → `{ name: value }`. */
export function parseNixOptions(pairs: readonly string[]): Record<string, string> {
  const options: Record<string, string> = {};
  for (const pair of pairs) {
    const separator = pair.indexOf('=');
    if (separator <= 0) throw new UsageError(`--nix-option expects name=value (got '${pair}')`);
    options[pair.slice(0, separator).trim()] = pair.slice(separator + 1).trim();
  }
  return options;
}

/** A positive whole number from the command line. */
export function positiveInteger(flag: string) {
  return (value: string): number => {
    const number = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || number < 1) {
      throw new UsageError(`${flag} must be a whole number of at least 1 (got '${value}')`);
    }
    return number;
  };
}

/** A whole number of seconds (0 allowed) from the command line. */
export function wholeSeconds(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value))
      throw new UsageError(`${flag} must be a whole number of seconds (got '${value}')`);
    return Number(value);
  };
}
