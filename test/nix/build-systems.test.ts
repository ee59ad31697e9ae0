import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { buildSystems, planBuild } from '../../src/domain/deploy/build-systems.js';
import { BuildError } from '../../src/domain/deploy/errors.js';
import { copyFixture, testNix } from '../support/flake-fixtures.js';

describe('buildSystems with the real nix', () => {
  it('maps each machine to its own system, whatever order nix reports builds in', async () => {
    const flake = await copyFixture('systems');
    const names = ['zeta', 'alpha', 'delta', 'beta', 'gamma'];
    const planned = await planBuild(testNix, flake, names);
    const systems = await buildSystems(testNix, flake, names);
    expect([...systems.keys()]).toEqual(names);
    for (const name of names) {
      const path = systems.get(name) as string;
      expect(path).toMatch(new RegExp(`^/nix/store/[a-z0-9]{32}-system-${name}$`));
      expect((await readFile(path, 'utf8')).trim()).toBe(name);
      expect(planned.systems.get(name)).toBe(path);
    }
  });

  it("fails as a whole, with nix's message, when one system does not build", async () => {
    const flake = await copyFixture('systems');
    const error = await buildSystems(testNix, flake, ['alpha', 'broken']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuildError);
    expect((error as Error).message).toMatch(/^build failed, no machine was touched: .*broken/);
  });
});
