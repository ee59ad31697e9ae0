import { existsSync } from 'node:fs';
import { chmod, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll } from 'vitest';
import type { NixSettings } from '../../src/transport/process/nix.js';

export const repoRoot = resolve(import.meta.dirname, '../..');
export const fixturesDir = join(repoRoot, 'test/fixtures/flakes');

/** Nix settings for tests: no binary cache (there is no network), the real nix from PATH. */
export const testNix: NixSettings = { bin: 'nix', options: { substituters: '' } };

/** The store path of the machine's system (its toplevel) as the flake has it now, by `nix eval`. */
export async function flakeToplevel(flake: string, name: string): Promise<string> {
  const result = await execa('nix', [
    '--extra-experimental-features',
    'nix-command flakes',
    'eval',
    '--raw',
    `${flake}#nixosConfigurations.${name}.config.system.build.toplevel.outPath`,
  ]);
  return result.stdout;
}

const made: string[] = [];
afterAll(async () => {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A fresh temporary directory, removed after the test file. */
export async function temporaryDir(prefix = 'lab-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/**
 * Copies a fixture flake out of the git checkout (nix only sees git-tracked files inside one)
 * and returns its path.
 */
export async function copyFixture(name: string): Promise<string> {
  const dir = join(await temporaryDir(`lab-${name}-`), name);
  await cp(join(fixturesDir, name), dir, { recursive: true });
  return dir;
}

/**
 * A nix wrapper that appends each invocation's subcommand to a log, then runs the real nix:
 * lets a test count the nix processes lab starts.
 */
export async function countingNix(): Promise<{ bin: string; calls: () => Promise<string[]> }> {
  const dir = await temporaryDir('lab-nix-wrapper-');
  const log = join(dir, 'calls.log');
  const bin = join(dir, 'nix');
  await writeFile(
    bin,
    `#!/bin/sh\nfor a in "$@"; do case "$a" in eval|flake) echo "$a" >> '${log}'; break;; esac; done\nexec nix "$@"\n`,
  );
  await chmod(bin, 0o755);
  return {
    bin,
    calls: async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean),
  };
}

/**
 * A nix wrapper that, while its gate is closed, holds every nix call before running the real
 * nix: lets a test stop lab in the middle of an evaluation (e.g. of a submission).
 */
export async function gatedNix(): Promise<{
  bin: string;
  close: () => Promise<void>;
  open: () => Promise<void>;
  reached: () => boolean;
}> {
  const dir = await temporaryDir('lab-nix-gate-');
  const gate = join(dir, 'closed');
  const reached = join(dir, 'reached');
  const bin = join(dir, 'nix');
  await writeFile(
    bin,
    `#!/bin/sh\nif [ -e '${gate}' ]; then touch '${reached}'; while [ -e '${gate}' ]; do sleep 0.05; done; fi\nexec nix "$@"\n`,
  );
  await chmod(bin, 0o755);
  return {
    bin,
    close: () => writeFile(gate, ''),
    open: () => rm(gate, { force: true }),
    reached: () => existsSync(reached),
  };
}
