import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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

  it('names each machine whose system failed with the derivation behind it, and builds the others', async () => {
    const flake = await copyFixture('systems');
    // Derivations never built before: what is in the store afterwards was built by this build.
    const text = await readFile(join(flake, 'flake.nix'), 'utf8');
    await writeFile(
      join(flake, 'flake.nix'),
      text.replace('nonce = "";', `nonce = "${randomBytes(8).toString('hex')}";`),
    );
    const names = ['alpha', 'gw', 'broken', 'db', 'beta'];
    const { systems } = await planBuild(testNix, flake, names);
    const error = await buildSystems(testNix, flake, names).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuildError);
    const { failures, built } = error as BuildError;
    expect([...failures.keys()]).toEqual(['gw', 'broken', 'db']);
    // gw and db fail because of the unit they share; broken because of its own toplevel.
    const shared =
      /^builder for '\/nix\/store\/[a-z0-9]{32}-unit-shared\.service\.drv' failed with exit code 1; .*error: unit-shared\.service does not build$/;
    expect(failures.get('gw')).toMatch(shared);
    expect(failures.get('db')).toBe(failures.get('gw'));
    expect(failures.get('broken')).toMatch(
      /^builder for '\/nix\/store\/[a-z0-9]{32}-system-broken\.drv' failed with exit code 1; .*error: broken does not build$/,
    );
    expect(built).toEqual(['alpha', 'beta']);
    expect((error as Error).message).toBe(
      `build failed, no machine was touched: the systems of gw, db did not build: ${failures.get('gw')}; ` +
        `the system of broken did not build: ${failures.get('broken')}; built fine: alpha, beta`,
    );
    // --keep-going: the systems that could be built were.
    for (const name of names) expect(existsSync(systems.get(name) as string)).toBe(built.includes(name));
  });

  it("fails as a whole, with nix's message, when one system does not build", async () => {
    const flake = await copyFixture('systems');
    const error = await buildSystems(testNix, flake, ['alpha', 'broken']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuildError);
    expect((error as Error).message).toMatch(/^build failed, no machine was touched: .*broken/);
  });
});
