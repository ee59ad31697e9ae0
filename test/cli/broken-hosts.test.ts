import { beforeAll, describe, expect, it } from 'vitest';
import { copyFixture, temporaryDir } from '../support/flake-fixtures.js';
import { runLab } from '../support/run-cli.js';

const nixOption = ['--nix-option', 'substituters='];
/**
 * Every host that broken-hosts cannot read, with what lab says is wrong with it (aborter's is
 * nix's own message, whose wording depends on nix's version: read in beforeAll).
 */
const brokenHosts: Record<string, string> = {
  aborter: '',
  'bad-level':
    'lab.machine.orchestration.criticalityLevel: must be one of "low", "medium", "high", "critical", got "urgent"',
  bad_name:
    "'bad_name' is not a valid host name (letters, digits and inner dashes, at most 63): rename the nixosConfigurations entry",
  'no-role': 'lab.machine.role: is required but not set',
  'no-url': 'lab.machine.healthChecks.0.url: a http check needs url',
  thrower: 'evaluation failed: thrower: missing hardware-configuration.nix',
  typo: 'lab.machine.orchestration.rebootdelay: unknown field',
  'wrong-type': 'lab.machine.rebootOrder: must be a number, got "soon"',
};
const refusalOfAll = () =>
  [
    'lab: refusing to plan all machines: 8 hosts could not be read, and the plan would leave them out:',
    ...Object.entries(brokenHosts).map(([name, reason]) => `  - ${name}: ${reason}`),
    'Fix them, or pass --skip-broken to go on without them.',
    '',
  ].join('\n');

let broken: string;
let grouped: string;
let env: Record<string, string>;

beforeAll(async () => {
  [broken, grouped] = await Promise.all([copyFixture('broken-hosts'), copyFixture('broken-in-groups')]);
  // The inventory is cached (by each flake's narHash): each flake is evaluated once in this file.
  env = { LAB_NO_CACHE: '0', LAB_CACHE_DIR: await temporaryDir('lab-broken-cache-') };
  const listed = JSON.parse((await lab(broken, ['machines', '--json'])).stdout) as {
    broken: { name: string; error: string }[];
  };
  const aborter = listed.broken.find((host) => host.name === 'aborter')?.error ?? '';
  expect(aborter).toMatch(/^evaluation failed: .*aborter: refusing to evaluate/);
  brokenHosts.aborter = aborter;
});

const lab = (flake: string, args: readonly string[]) =>
  runLab([...args, '--flake', flake, ...nixOption], env);

describe('a plan of all machines with hosts that could not be read', () => {
  it.each([
    ['sequence'],
    ['sequence', 'all'],
    ['sequence', '--json'],
    ['sequence', '--lines'],
    ['get-reboot-sequence'],
    ['reboot', '--all', '--yes'],
    ['reboot', 'all', '--yes'],
    ['deploy', '--all', '--yes'],
    ['deploy', '--all', '--dry-run'],
    ['deploy-all', '--yes'],
    ['health'],
    ['health', 'all', '--json'],
  ])('`lab %s` is refused with exit code 2, naming each broken host and its field', async (...args) => {
    const result = await lab(broken, args);
    expect(result.stderr).toBe(refusalOfAll());
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
  });

  it('with --skip-broken, goes on and lists them as skipped: JSON, text and lines', async () => {
    const json = await lab(broken, ['sequence', '--json', '--skip-broken']);
    expect(json.stderr).toBe('');
    expect(json.exitCode).toBe(0);
    const document = JSON.parse(json.stdout);
    expect(Object.keys(document)).toEqual(['steps', 'unmanaged', 'warnings', 'skipped']);
    expect(document.steps).toEqual([
      {
        rebootOrder: 1,
        machines: [{ name: 'good', rebootDelay: 600, criticalityLevel: 'medium', dependencies: [] }],
      },
    ]);
    expect(document.skipped).toEqual(Object.entries(brokenHosts).map(([name, reason]) => ({ name, reason })));
    expect(document.warnings).toEqual([
      'good has no health checks: after a reboot lab can only wait for SSH',
    ]);

    const text = await lab(broken, ['sequence', '--skip-broken']);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toContain(
      [
        'Skipped (could not be read; --skip-broken):',
        ...Object.entries(brokenHosts).map(([name, reason]) => `  ${name}: ${reason}`),
      ].join('\n'),
    );

    const lines = await lab(broken, ['get-reboot-sequence', '--skip-broken']);
    expect(lines.exitCode).toBe(0);
    expect(lines.stdout).toBe('good:600\n');
    expect(lines.stderr).toBe(
      [
        'lab: going on without 8 hosts that could not be read (--skip-broken):',
        ...Object.entries(brokenHosts).map(([name, reason]) => `  ${name}: ${reason}`),
        '',
      ].join('\n'),
    );
  });

  it('goes on for machines named one by one, and says which hosts it could not read', async () => {
    const result = await lab(broken, ['sequence', 'good', '--json']);
    expect(result.exitCode).toBe(0);
    const document = JSON.parse(result.stdout);
    expect(document.steps.flatMap((step: { machines: { name: string }[] }) => step.machines)).toMatchObject([
      { name: 'good' },
    ]);
    expect(document.skipped).toEqual([]);
    expect(document.warnings).toContain(
      'typo could not be read and is not in this plan: lab.machine.orchestration.rebootdelay: unknown field',
    );
  });

  it('`lab machines` still lists the machines that loaded and the broken hosts apart', async () => {
    const result = await lab(broken, ['machines']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('good  web   -       1      medium       0       root@good:22');
    expect(result.stdout).toContain(
      [
        'Could not be read:',
        ...Object.entries(brokenHosts).map(([name, reason]) => `  ${name}: ${reason}`),
      ].join('\n'),
    );
    const json = JSON.parse((await lab(broken, ['machines', '--json'])).stdout);
    expect(json.machines.map((machine: { name: string }) => machine.name)).toEqual(['good']);
    expect(json.broken).toEqual(Object.entries(brokenHosts).map(([name, error]) => ({ name, error })));
  });
});

describe('a plan of a group with hosts that could not be read', () => {
  const storageRefusal = [
    'lab: refusing to plan @storage: 2 hosts that could not be read are or may be in @storage, and the plan would leave them out:',
    '  - backup (in @storage): lab.machine.rebootOrder: must be a number, got "soon"',
    '  - thrower (its groups could not be read, so it may be in any): evaluation failed: thrower: missing hardware-configuration.nix',
    'Fix them, or pass --skip-broken to go on without them.',
    '',
  ].join('\n');

  it.each([
    ['sequence', '@storage'],
    ['reboot', '@storage', '--yes'],
    ['deploy', '@storage', '--yes'],
    ['health', '@storage'],
  ])('`lab %s %s` is refused: a broken host is in the group, another may be', async (...args) => {
    const result = await lab(grouped, args);
    expect(result.stderr).toBe(storageRefusal);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
  });

  it('names only the hosts that are or may be in the group; with --skip-broken lists them as skipped', async () => {
    const refused = await lab(grouped, ['sequence', '@front', 'nas']);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('refusing to plan @front nas: 2 hosts that could not be read');
    expect(refused.stderr).toContain(
      '  - proxy (in @front): lab.machine.orchestration.rebootdelay: unknown field\n',
    );
    expect(refused.stderr).not.toContain('backup');

    const result = await lab(grouped, ['sequence', '@front', '--skip-broken', '--json']);
    expect(result.exitCode).toBe(0);
    const document = JSON.parse(result.stdout);
    expect(document.steps).toMatchObject([{ rebootOrder: 2, machines: [{ name: 'web' }] }]);
    expect(document.skipped).toEqual([
      { name: 'proxy', reason: 'lab.machine.orchestration.rebootdelay: unknown field' },
      { name: 'thrower', reason: 'evaluation failed: thrower: missing hardware-configuration.nix' },
    ]);
    expect(document.warnings).toContain(
      'backup could not be read and is not in this plan: lab.machine.rebootOrder: must be a number, got "soon"',
    );
  });

  it('goes on for healthy machines named one by one', async () => {
    const result = await lab(grouped, ['sequence', 'nas', 'web', '--lines']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('nas:600\nweb:600\n');
  });
});
