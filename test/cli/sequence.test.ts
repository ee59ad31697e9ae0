import { beforeAll, describe, expect, it } from 'vitest';
import { copyFixture } from '../support/flake-fixtures.js';
import { runLab } from '../support/run-cli.js';

const nixOption = ['--nix-option', 'substituters='];
let homelab: string;

beforeAll(async () => {
  homelab = await copyFixture('homelab');
});

describe('lab sequence', () => {
  it('prints the plan as the stable JSON document', async () => {
    const result = await runLab(['sequence', '--flake', homelab, '--json', ...nixOption]);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      steps: [
        {
          rebootOrder: 1,
          machines: [{ name: 'nas', rebootDelay: 30, criticalityLevel: 'medium', dependencies: [] }],
        },
        {
          rebootOrder: 1,
          machines: [{ name: 'backup', rebootDelay: 10, criticalityLevel: 'low', dependencies: ['nas'] }],
        },
        {
          rebootOrder: 1,
          machines: [{ name: 'sleeper-service', rebootDelay: 0, criticalityLevel: 'low', dependencies: [] }],
        },
        {
          rebootOrder: 2,
          machines: [{ name: 'cache', rebootDelay: 600, criticalityLevel: 'medium', dependencies: [] }],
        },
        {
          rebootOrder: 2,
          machines: [{ name: 'db', rebootDelay: 60, criticalityLevel: 'high', dependencies: ['nas'] }],
        },
        {
          rebootOrder: 3,
          machines: [
            { name: 'web', rebootDelay: 5, criticalityLevel: 'critical', dependencies: ['db', 'cache'] },
          ],
        },
      ],
      unmanaged: ['printer'],
      warnings: ['cache has no health checks: after a reboot lab can only wait for SSH'],
      skipped: [],
    });
    expect(Object.keys(JSON.parse(result.stdout))).toEqual(['steps', 'unmanaged', 'warnings', 'skipped']);
  });

  it("prints `machine:rebootDelay` lines for scripts, also as the seed's `lab get-reboot-sequence`", async () => {
    const lines = ['nas:30', 'backup:10', 'sleeper-service:0', 'cache:600', 'db:60', 'web:5', ''];
    const result = await runLab(['sequence', '--lines', '--flake', homelab, ...nixOption]);
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual(lines);
    const seed = await runLab(['get-reboot-sequence', '--flake', homelab, ...nixOption]);
    expect(seed.exitCode).toBe(0);
    expect(seed.stdout.split('\n')).toEqual(lines);
    const some = await runLab(['get-reboot-sequence', '--flake', homelab, ...nixOption, 'web', 'nas']);
    expect(some.stdout).toBe('nas:30\nweb:5\n');
  });

  it('prints a numbered plan for people', async () => {
    const result = await runLab(['sequence', '--flake', homelab, ...nixOption]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.split('\n')).toEqual([
      `Reboot sequence for ${homelab}: 6 machines in 6 steps`,
      '',
      'rebootOrder 1',
      '  1. nas (delay: 30 seconds) · medium',
      '  2. backup (delay: 10 seconds) · low, after nas',
      '  3. sleeper-service (delay: 0 seconds) · low',
      '',
      'rebootOrder 2',
      '  4. cache (delay: 600 seconds) · medium',
      '  5. db (delay: 60 seconds) · high, after nas',
      '',
      'rebootOrder 3',
      '  6. web (delay: 5 seconds) · critical, after db, cache',
      '',
      'Unmanaged (no lab.machine): printer',
      '',
      'Warnings:',
      '  - cache has no health checks: after a reboot lab can only wait for SSH',
      '',
    ]);
  });

  it('shares a step between independent machines with --parallel', async () => {
    const result = await runLab(['sequence', '--flake', homelab, '--parallel', '2', '--json', ...nixOption]);
    const steps = JSON.parse(result.stdout).steps as { machines: { name: string }[] }[];
    expect(steps.map((step) => step.machines.map((m) => m.name))).toEqual([
      ['nas', 'sleeper-service'],
      ['backup'],
      ['cache', 'db'],
      ['web'],
    ]);
    const text = await runLab(['sequence', '--flake', homelab, '-p', '2', ...nixOption]);
    expect(text.stdout).toContain(
      '  1. nas (delay: 30 seconds) · medium\n     sleeper-service (delay: 0 seconds) · low\n',
    );
  });

  it('plans only the targets, in sequence order', async () => {
    const result = await runLab(['sequence', 'web', '@storage', '--flake', homelab, '--json', ...nixOption]);
    const plan = JSON.parse(result.stdout);
    expect(plan.steps.map((step: { machines: { name: string }[] }) => step.machines[0]?.name)).toEqual([
      'nas',
      'backup',
      'web',
    ]);
    expect(plan.warnings).toEqual(['web depends on db, cache, which are not in this selection']);
  });

  it('reads the flake from LAB_FLAKE', async () => {
    const result = await runLab(['sequence', '--json', ...nixOption], { LAB_FLAKE: homelab });
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout).steps).toHaveLength(6);
  });
});

describe('lab sequence and maintenance windows', () => {
  it("shows each machine's next window from LAB_MAINTENANCE_WINDOW (--json: a window field, only then)", async () => {
    const before = Date.now();
    const result = await runLab(['sequence', '--json', '--flake', homelab, ...nixOption], {
      LAB_MAINTENANCE_WINDOW: 'sat,sun 23:00-05:00 Europe/Berlin',
    });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const machines = JSON.parse(result.stdout).steps.flatMap(
      (step: { machines: unknown[] }) => step.machines,
    );
    expect(machines.length).toBeGreaterThan(0);
    for (const machine of machines) {
      const { window } = machine as {
        window: { description: string; open: boolean; opensAt: string; closesAt: string };
      };
      expect(window.description).toBe('sat,sun 23:00-05:00 Europe/Berlin');
      const [opens, closes] = [Date.parse(window.opensAt), Date.parse(window.closesAt)];
      expect(closes).toBeGreaterThan(opens);
      expect(window.open ? opens <= Date.now() : opens >= before).toBe(true);
      expect(['Sat', 'Sun']).toContain(
        new Date(opens).toLocaleDateString('en-GB', { weekday: 'short', timeZone: 'Europe/Berlin' }),
      );
    }
    const text = await runLab(['sequence', '--flake', homelab, ...nixOption], {
      LAB_MAINTENANCE_WINDOW: 'sat,sun 23:00-05:00 Europe/Berlin',
    });
    expect(text.stdout).toMatch(
      /window sat,sun 23:00-05:00 Europe\/Berlin: (opens|open now, closes) (Sat|Sun) /,
    );
  });

  it('refuses an invalid LAB_MAINTENANCE_WINDOW, naming the variable (exit 2)', async () => {
    const result = await runLab(['sequence', '--flake', homelab, ...nixOption], {
      LAB_MAINTENANCE_WINDOW: 'mon 25:00-02:00',
    });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(
      "lab: LAB_MAINTENANCE_WINDOW: start '25:00' is not a time HH:MM (00:00 to 23:59)\n",
    );
  });
});

describe('lab sequence errors', () => {
  it('exits 2 on invalid configuration with one line per problem, no stack trace', async () => {
    const cycle = await copyFixture('cycle');
    const result = await runLab(['sequence', '--flake', cycle, ...nixOption]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      [
        'lab: 2 configuration problems:',
        "  - self-loop depends on itself (lab.machine.dependencies): remove 'self-loop'",
        '  - dependency cycle: a → c → b → a (each depends on the next; lab.machine.dependencies)',
        '',
      ].join('\n'),
    );
  });

  it('exits 2 naming both machines for a dependency on a later stage', async () => {
    const later = await copyFixture('later-dependency');
    const result = await runLab(['sequence', '--flake', later, ...nixOption]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(
      'lab: web (rebootOrder 1) depends on db (rebootOrder 2), which reboots later: give db a rebootOrder of at most 1 or drop the dependency\n',
    );
  });

  it('exits 2 for unknown and unmanaged dependencies', async () => {
    const unknown = await copyFixture('unknown-dependency');
    const result = await runLab(['sequence', '--flake', unknown, ...nixOption]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(
      "web depends on 'database' (lab.machine.dependencies), which is not a machine of this flake",
    );
    expect(result.stderr).toContain(
      "web depends on 'printer' (lab.machine.dependencies), which does not use the lab module",
    );
  });

  it('refuses an unknown target and a bad --parallel as usage errors', async () => {
    const unknown = await runLab(['sequence', 'ghost', '--flake', homelab, ...nixOption]);
    expect(unknown.exitCode).toBe(64);
    expect(unknown.stderr).toMatch(
      /^lab: unknown machine 'ghost' \(machines: backup, cache, db, nas, sleeper-service, web;/,
    );
    const parallel = await runLab(['sequence', '--parallel', 'two', '--flake', homelab]);
    expect(parallel.exitCode).toBe(64);
    expect(parallel.stderr).toContain("--parallel must be a whole number of at least 1 (got 'two')");
  });

  it('explains a missing flake in one line, and shows the stack only with --debug', async () => {
    const missing = await runLab(['sequence', '--flake', '/nonexistent/lab-flake', ...nixOption]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toBe(
      "lab: no flake at '/nonexistent/lab-flake': pass --flake with a directory containing flake.nix (or set LAB_FLAKE).\n",
    );
    const debug = await runLab(['--debug', 'sequence', '--flake', '/nonexistent/lab-flake', ...nixOption]);
    expect(debug.stderr).toMatch(/FlakeNotFoundError: no flake at .*\n\s+at /);
  });

  it('explains a missing nix binary', async () => {
    const result = await runLab(['sequence', '--flake', homelab], { LAB_NIX: '/nonexistent/nix' });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe(
      "lab: cannot run nix: '/nonexistent/nix' was not found or is not executable. Install Nix (Debian: apt-get install nix-bin) or set LAB_NIX to the nix binary.\n",
    );
  });
});
