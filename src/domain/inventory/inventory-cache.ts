import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type RawHosts, rawHostsSchema } from './parse-hosts.js';

/**
 * Evaluation results cached on disk, keyed by the flake's locked narHash (content-addressed, so
 * an unchanged flake never evaluates twice and a changed one never reads a stale entry), the
 * evaluation expression and the nix settings.
 */
export interface InventoryCache {
  get(key: string): Promise<RawHosts | undefined>;
  set(key: string, hosts: RawHosts): Promise<void>;
}

export function cacheKey(parts: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

/** `$LAB_CACHE_DIR`, else `$XDG_CACHE_HOME/lab`, else `~/.cache/lab`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LAB_CACHE_DIR) return env.LAB_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lab');
}

export class FileInventoryCache implements InventoryCache {
  private readonly dir: string;

  constructor(cacheDir: string) {
    this.dir = join(cacheDir, 'inventory');
  }

  async get(key: string): Promise<RawHosts | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.dir, `${key}.json`), 'utf8');
    } catch {
      return undefined;
    }
    try {
      const parsed = rawHostsSchema.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined; // a damaged entry is re-evaluated and overwritten
    }
  }

  async set(key: string, hosts: RawHosts): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
      const file = join(this.dir, `${key}.json`);
      const temporary = `${file}.${process.pid}.tmp`;
      await writeFile(temporary, JSON.stringify(hosts));
      await rename(temporary, file);
    } catch {
      // A cache that cannot be written only costs a later evaluation.
    }
  }
}
