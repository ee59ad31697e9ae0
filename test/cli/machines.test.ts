import { beforeAll, describe, expect, it } from 'vitest';
import { copyFixture } from '../support/flake-fixtures.js';
import { runLab } from '../support/run-cli.js';

const nixOption = ['--nix-option', 'substituters='];
let homelab: string;

beforeAll(async () => {
  homelab = await copyFixture('homelab');
});

describe('lab machines', () => {
  it('prints a table of managed machines and lists unmanaged ones apart', async () => {
    const result = await runLab(['machines', '--flake', homelab, ...nixOption]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.split('\n')).toEqual([
      'NAME             ROLE      GROUPS    ORDER  CRITICALITY  CHECKS  SSH',
      'backup           backup    storage   1      low          1       root@backup:22',
      'cache            cache     data      2      medium       0       root@cache:22',
      'db               database  data      2      high         1       deploy@db.lab.example:2222',
      'nas              storage   storage   1      medium       1       root@nas:22',
      'sleeper-service  sleeper   -         1      low          1       root@sleeper-service:22',
      'web              web       frontend  3      critical     2       root@web:22',
      '',
      'Unmanaged (no lab.machine): printer',
      '',
    ]);
  });

  it('filters by --group and prints stable JSON', async () => {
    const result = await runLab(['machines', '--flake', homelab, '--group', 'data', '--json', ...nixOption]);
    const json = JSON.parse(result.stdout);
    expect(Object.keys(json)).toEqual(['flake', 'revision', 'machines', 'unmanaged', 'broken', 'warnings']);
    expect(json.machines.map((m: { name: string }) => m.name)).toEqual(['cache', 'db']);
    expect(json.machines[1]).toEqual({
      name: 'db',
      hostName: 'db',
      role: 'database',
      groups: ['data'],
      rebootOrder: 2,
      dependencies: ['nas'],
      deployStrategy: 'blue-green',
      rebootDelay: 60,
      criticalityLevel: 'high',
      healthChecks: [{ type: 'tcp', url: null, port: 5432, command: null, timeout: 5, expectStatus: null }],
      ssh: { host: 'db.lab.example', port: 2222, user: 'deploy' },
    });
  });

  it('refuses a group no machine is in', async () => {
    const result = await runLab(['machines', '--flake', homelab, '--group', 'gpu', ...nixOption]);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toBe("lab: no machine is in group 'gpu'\n");
  });

  it('shows broken hosts with their reasons next to the machines that loaded', async () => {
    const broken = await copyFixture('broken-hosts');
    const result = await runLab(['machines', '--flake', broken, ...nixOption]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('good  web   -       1      medium       0       root@good:22');
    expect(result.stdout).toContain('Could not be read:\n  aborter: evaluation failed: ');
    expect(result.stdout).toContain('  typo: lab.machine.orchestration.rebootdelay: unknown field\n');
    const json = JSON.parse((await runLab(['machines', '--flake', broken, '--json', ...nixOption])).stdout);
    expect(json.broken.map((host: { name: string }) => host.name)).toEqual([
      'aborter',
      'bad-level',
      'bad_name',
      'no-role',
      'no-url',
      'thrower',
      'typo',
      'wrong-type',
    ]);
  });
});
