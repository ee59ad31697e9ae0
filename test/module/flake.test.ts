import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = resolve(import.meta.dirname, '../..');
const nixEnv = { NIX_CONFIG: 'substituters =' };
const flakes = ['--extra-experimental-features', 'nix-command flakes'];

let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The repository's flake.nix and nix/ in a temporary directory (nix sees only git-tracked files in a checkout). */
async function copyRootFlake(): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), 'lab-root-flake-'));
  await cp(join(repoRoot, 'flake.nix'), join(dir, 'flake.nix'));
  await cp(join(repoRoot, 'nix'), join(dir, 'nix'), { recursive: true });
  return dir;
}

describe('flake.nix (repository root)', () => {
  it('has no inputs and exports nixosModules.lab-machine and .default, importing the module; flake check passes', async () => {
    const flake = await copyRootFlake();
    const modules = await execa(
      'nix',
      [
        ...flakes,
        'eval',
        '--json',
        `${flake}#nixosModules`,
        '--apply',
        'builtins.mapAttrs (_: m: map (p: baseNameOf (toString p)) m.imports)',
      ],
      { env: nixEnv },
    );
    expect(JSON.parse(modules.stdout)).toEqual({
      default: ['lab-machine.nix'],
      'lab-machine': ['lab-machine.nix'],
    });
    const metadata = await execa('nix', [...flakes, 'flake', 'metadata', '--json', flake], { env: nixEnv });
    expect(JSON.parse(metadata.stdout).locks.nodes.root.inputs ?? {}).toEqual({});
    const check = await execa('nix', [...flakes, 'flake', 'check', flake], { env: nixEnv, reject: false });
    expect(check.exitCode, check.stderr).toBe(0);
  });
});
