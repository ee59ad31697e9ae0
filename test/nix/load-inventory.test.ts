import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileInventoryCache } from '../../src/domain/inventory/inventory-cache.js';
import { loadInventory } from '../../src/domain/inventory/load-inventory.js';
import { FlakeNotFoundError, NixEvalError, NixNotFoundError } from '../../src/errors.js';
import { copyFixture, countingNix, temporaryDir, testNix } from '../support/flake-fixtures.js';

describe('loadInventory with the real nix', () => {
  it('reads every managed host, with defaults, and lists unmanaged hosts apart', async () => {
    const flake = await copyFixture('homelab');
    const inventory = await loadInventory({ flake, nix: testNix });
    expect(inventory.machines.map((m) => m.name)).toEqual([
      'backup',
      'cache',
      'db',
      'nas',
      'sleeper-service',
      'web',
    ]);
    expect(inventory.unmanaged).toEqual([{ name: 'printer' }]);
    expect(inventory.broken).toEqual([]);
    expect(inventory.revision).toMatch(/^sha256-/);
    const db = inventory.machines.find((m) => m.name === 'db');
    expect(db).toMatchObject({
      hostName: 'db',
      rebootOrder: 2,
      dependencies: ['nas'],
      deployStrategy: 'blue-green',
      criticalityLevel: 'high',
      rebootDelay: 60,
      ssh: { host: 'db.lab.example', port: 2222, user: 'deploy' },
      healthChecks: [{ type: 'tcp', port: 5432, timeout: 5, url: null, command: null, expectStatus: null }],
    });
    const cache = inventory.machines.find((m) => m.name === 'cache');
    expect(cache).toMatchObject({
      rebootDelay: 600,
      criticalityLevel: 'medium',
      ssh: { host: 'cache', port: 22, user: 'root' },
    });
  });

  it('evaluates all hosts in one nix eval and reads an unchanged flake from the cache', async () => {
    const flake = await copyFixture('homelab');
    const nix = await countingNix();
    const cache = new FileInventoryCache(await temporaryDir('lab-cache-'));
    const settings = { flake, nix: { ...testNix, bin: nix.bin }, cache };

    const first = await loadInventory(settings);
    expect(await nix.calls()).toEqual(['flake', 'eval']);
    const second = await loadInventory(settings);
    expect(await nix.calls()).toEqual(['flake', 'eval', 'flake']);
    expect(second).toEqual(first);

    // A changed flake has a new narHash and is evaluated again.
    const source = join(flake, 'flake.nix');
    await writeFile(
      source,
      (await readFile(source, 'utf8')).replace('rebootDelay = 30;', 'rebootDelay = 31;'),
    );
    const third = await loadInventory(settings);
    expect(await nix.calls()).toEqual(['flake', 'eval', 'flake', 'flake', 'eval']);
    expect(third.machines.find((m) => m.name === 'nas')?.rebootDelay).toBe(31);
  });

  it('reports broken hosts by name with the reason, and still loads the others', async () => {
    const flake = await copyFixture('broken-hosts');
    const inventory = await loadInventory({ flake, nix: testNix });
    expect(inventory.machines.map((m) => m.name)).toEqual(['good']);
    expect(inventory.unmanaged).toEqual([{ name: 'plain' }]);
    const errors = Object.fromEntries(inventory.broken.map((host) => [host.name, host.error]));
    expect(errors).toEqual({
      aborter: expect.stringContaining('aborter: refusing to evaluate'),
      'bad-level': expect.stringContaining('lab.machine.orchestration.criticalityLevel: must be one of'),
      bad_name: expect.stringContaining("'bad_name' is not a valid host name"),
      'no-role': 'lab.machine.role: is required but not set',
      'no-url': 'lab.machine.healthChecks.0.url: a http check needs url',
      thrower: expect.stringContaining('thrower: missing hardware-configuration.nix'),
      typo: 'lab.machine.orchestration.rebootdelay: unknown field',
      'wrong-type': 'lab.machine.rebootOrder: must be a number, got "soon"',
    });
    // A listing says it could not be read; what a plan does with it is the plan's to say.
    expect(inventory.warnings).toContain(
      'thrower could not be read: evaluation failed: thrower: missing hardware-configuration.nix',
    );
  });

  it('explains a missing flake, a flake without nixosConfigurations, and a missing nix', async () => {
    const empty = await temporaryDir('lab-noflake-');
    await expect(loadInventory({ flake: empty, nix: testNix })).rejects.toThrow(FlakeNotFoundError);
    await expect(loadInventory({ flake: empty, nix: testNix })).rejects.toThrow(`no flake at '${empty}'`);

    const noConfigurations = await copyFixture('no-configurations');
    await expect(loadInventory({ flake: noConfigurations, nix: testNix })).rejects.toThrow(
      `flake '${noConfigurations}' has no nixosConfigurations output.`,
    );

    await expect(
      loadInventory({ flake: noConfigurations, nix: { bin: '/nonexistent/nix', options: {} } }),
    ).rejects.toThrow(NixNotFoundError);
  });

  it('reports a syntax error in the flake as one line naming the flake', async () => {
    const dir = await temporaryDir('lab-syntax-');
    await writeFile(join(dir, 'flake.nix'), '{ outputs = { self }: { nixosConfigurations = { ');
    const error = await loadInventory({ flake: dir, nix: testNix }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NixEvalError);
    expect((error as Error).message).toMatch(new RegExp(`^nix could not (evaluate|read) flake '${dir}'`));
    expect((error as Error).message).not.toContain('\n');
  });
});
