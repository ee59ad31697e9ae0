import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { copyFixture, repoRoot } from '../support/flake-fixtures.js';

describe('the lab binary', () => {
  it('runs as `npx lab` and prints the plan of a fixture flake', async () => {
    const flake = await copyFixture('homelab');
    const result = await execa('npx', ['lab', 'sequence', '--flake', flake, '--json', '--no-cache'], {
      cwd: repoRoot,
      env: { NIX_CONFIG: 'substituters =' },
      reject: false,
    });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const plan = JSON.parse(result.stdout);
    expect(plan.steps[0]).toEqual({
      rebootOrder: 1,
      machines: [{ name: 'nas', rebootDelay: 30, criticalityLevel: 'medium', dependencies: [] }],
    });
    expect(plan.unmanaged).toEqual(['printer']);
  });

  it('prints usage help and exits 64 on an unknown command', async () => {
    const result = await execa('npx', ['lab', 'frobnicate'], { cwd: repoRoot, reject: false });
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toContain("unknown command 'frobnicate'");
    const help = await execa('npx', ['lab', '--help'], { cwd: repoRoot });
    expect(help.stdout).toContain('sequence [options] [targets...]');
  });
});
