import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Homelab } from '../sim/homelab.js';
import { startTestHomelab } from '../support/homelabs.js';
import { onMachine } from '../support/on-machine.js';
import { runLabOn } from '../support/run-cli.js';

let lab: Homelab;
const postgres = (port: number) => ({ type: 'tcp' as const, port, unit: 'postgresql.service' });

beforeAll(async () => {
  lab = await startTestHomelab({
    nas: { role: 'nas', rebootOrder: 1, services: [{ type: 'tcp', port: 2049 }] },
    db: { role: 'db', rebootOrder: 2, checks: [{ type: 'tcp', port: 5432 }], services: [postgres(5432)] },
    web: { role: 'web', rebootOrder: 3, services: [{ type: 'http', port: 80 }] },
  });
});

afterAll(async () => {
  await lab?.stop();
});

const deploy = (...args: string[]) => runLabOn(lab, 'deploy', ['--yes', '--health-timeout', '10', ...args]);

/** What the machine runs, what its profile and its boot default are, read on the machine itself. */
function systemsOf(name: string): Promise<string> {
  return onMachine(
    lab,
    name,
    'readlink -f /run/current-system; readlink -f /nix/var/nix/profiles/system; cat /boot/loader/loader.conf',
  );
}

describe('lab deploy --dry-run on the simulated homelab: the change preview', () => {
  it('names the package version, kernel and unit that change, before anything is activated', async () => {
    // db runs a system lab deployed (in its store, as every NixOS system is), with hello 2.10.
    await lab.configure('db', { packages: { hello: '2.10' } });
    const first = await deploy('db');
    expect(first.stderr).toBe('');
    expect(first.exitCode).toBe(0);
    // The new system: hello 2.12, kernel 2, postgresql on another port; web's does not build.
    await lab.configure('db', { packages: { hello: '2.12' }, kernel: '2', services: [postgres(5433)] });
    await lab.configure('web', { buildFails: true });
    const before = { db: await systemsOf('db'), nas: await systemsOf('nas') };
    const activations = lab.activations('db').length;

    const result = await deploy('--all', '--dry-run', '--json');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const plan = JSON.parse(result.stdout);
    const byName = Object.fromEntries(
      plan.steps.flatMap((step: { machines: { name: string }[] }) => step.machines.map((m) => [m.name, m])),
    );
    const db = byName.db.preview;
    expect(db.problems).toEqual([]);
    expect(db.packages.changed).toEqual(
      expect.arrayContaining([
        { name: 'hello', before: ['2.10'], after: ['2.12'], sizeDelta: null },
        { name: 'linux', before: ['1'], after: ['2'], sizeDelta: null },
        { name: 'initrd-linux', before: ['1'], after: ['2'], sizeDelta: null },
      ]),
    );
    expect(db).toMatchObject({ needsReboot: true, bootChanges: ['kernel', 'initrd', 'kernel-modules'] });
    expect(db.units).toEqual({
      started: [],
      stopped: [],
      restarted: ['postgresql.service'],
      reloaded: [],
      notRestarted: [],
      restartSystemd: false,
    });
    expect(db.closureSize.before).toBeGreaterThan(0);
    expect(db.closureSize.delta).toBe(db.closureSize.after - db.closureSize.before);
    // nas runs the system it was installed with, which is not in its store: named, with nix's reason.
    expect(byName.nas.preview.problems).toEqual([
      {
        step: 'diff',
        reason: expect.stringMatching(/^what it runs \(\/.*-nixos-system-nas-sim\) is not in its Nix store/),
      },
    ]);
    expect(byName.nas.preview.units).toMatchObject({ restarted: [], stopped: [] });
    expect(byName.web.preview).toMatchObject({
      system: null,
      problems: [{ step: 'build', reason: expect.stringContaining('does not build') }],
    });

    // Nothing was activated: what runs, the profile and the boot default are as they were.
    expect(await systemsOf('db')).toBe(before.db);
    expect(await systemsOf('nas')).toBe(before.nas);
    expect(lab.activations('db')).toHaveLength(activations);

    const text = await deploy('--all', '--dry-run');
    expect(text.stdout).toContain('hello 2.10 → 2.12');
    expect(text.stdout).toContain('linux 1 → 2');
    expect(text.stdout).toContain('reboot needed: kernel, initrd, kernel-modules change');
    expect(text.stdout).toContain('units restarted: postgresql.service');
    expect(text.stdout).toMatch(/did not build: .*does not build/);
    expect(text.stdout).toContain('could not diff the closures:');
    expect(await systemsOf('db')).toBe(before.db);
    await lab.configure('web', { buildFails: false });
  });

  it('--eval-only builds and copies nothing and has no preview', async () => {
    const result = await deploy('db', '--dry-run', '--eval-only', '--json');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout).steps[0].machines[0]).toMatchObject({ name: 'db', preview: null });
    const wrong = await deploy('db', '--eval-only');
    expect(wrong.exitCode).toBe(64);
    expect(wrong.stderr).toContain('--eval-only goes with --dry-run');
  });
});
