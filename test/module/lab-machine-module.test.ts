import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const repoRoot = resolve(import.meta.dirname, '../..');
const modulePath = join(repoRoot, 'nix/modules/lab-machine.nix');
const harness = join(import.meta.dirname, 'eval-module.nix');
const hostsDir = join(import.meta.dirname, 'hosts');

/**
 * A checkout of nix-community/nixpkgs.lib or of nixpkgs (the directory holding lib/), or that
 * lib/ directory: enables the evaluation of the module by the real module system.
 */
const LIB_ENV = 'LAB_NIXPKGS_LIB';
const libPath = process.env[LIB_ENV] ? resolve(process.env[LIB_ENV]) : undefined;

interface HealthCheck {
  type: string;
  url: string | null;
  port: number | null;
  command: string | null;
  timeout: number;
  expectStatus: number | null;
}

interface Machine {
  role: string;
  groups: string[];
  rebootOrder: number;
  dependencies: string[];
  healthChecks: HealthCheck[];
  orchestration: {
    deployStrategy: string;
    rebootDelay: number;
    criticalityLevel: string;
    maintenanceWindow: Record<string, unknown> | null;
  };
  ssh: { host: string; port: number; user: string };
  power: unknown;
}

interface Evaluation {
  machine: Machine;
  failedAssertions: string[];
  metadata: Machine & { hostname: string; services: string[] };
  options: { name: string; hasDescription: boolean; hasExample: boolean }[];
}

/** Evaluates the module with one of the host modules in test/module/hosts; data goes in by --argstr. */
function evaluate(host: string) {
  return execa(
    'nix-instantiate',
    [
      '--eval',
      '--strict',
      '--json',
      harness,
      '--argstr',
      'lib',
      libPath ?? '',
      '--argstr',
      'host',
      join(hostsDir, `${host}.nix`),
    ],
    { reject: false, env: { NIX_CONFIG: 'substituters =' } },
  );
}

async function evaluateOk(host: string): Promise<Evaluation> {
  const result = await evaluate(host);
  expect(result.stderr).toBe('');
  expect(result.exitCode).toBe(0);
  return JSON.parse(result.stdout) as Evaluation;
}

const NO_POWER = {
  wakeOnLan: null,
  command: { on: null, off: null, cycle: null, status: null, environmentFile: null, timeout: 60 },
  recover: 'never',
};

describe('nix/modules/lab-machine.nix', () => {
  it('is valid Nix syntax (nix-instantiate --parse), as are the test harness and host modules', async () => {
    for (const file of [
      modulePath,
      harness,
      ...['minimal', 'full', 'broken-checks', 'bad-enum', 'no-role', 'power', 'bad-power', 'power-no-method'],
    ]) {
      const path = file.endsWith('.nix') ? file : join(hostsDir, `${file}.nix`);
      const result = await execa('nix-instantiate', ['--parse', path], { reject: false });
      expect(result.stderr, path).toBe('');
      expect(result.exitCode, path).toBe(0);
    }
  });
});

describe.skipIf(libPath === undefined)(
  libPath
    ? `nix/modules/lab-machine.nix evaluated by lib.evalModules (${LIB_ENV}=${libPath})`
    : `nix/modules/lab-machine.nix evaluated by lib.evalModules: skipped, set ${LIB_ENV} to a nixpkgs.lib or nixpkgs checkout to run`,
  () => {
    it(`${LIB_ENV} points at a nixpkgs lib`, () => {
      const path = libPath ?? '';
      expect(existsSync(join(path, 'lib/default.nix')) || existsSync(join(path, 'fixed-points.nix'))).toBe(
        true,
      );
    });

    it('gives every field its default, and ssh.host the host name', async () => {
      const { machine, failedAssertions } = await evaluateOk('minimal');
      expect(failedAssertions).toEqual([]);
      expect(machine).toEqual({
        role: 'test',
        groups: [],
        rebootOrder: 3,
        dependencies: [],
        healthChecks: [],
        orchestration: {
          deployStrategy: 'rolling',
          rebootDelay: 600,
          criticalityLevel: 'medium',
          maintenanceWindow: null,
        },
        ssh: { host: 'minimal', port: 22, user: 'root' },
        power: NO_POWER,
        monitor: { enable: true, interval: null, failureThreshold: null, successThreshold: null },
      });
    });

    it('takes every field as set; ssh.host defaults to networking.fqdnOrHostName; checks get defaults', async () => {
      const { machine, failedAssertions } = await evaluateOk('full');
      expect(failedAssertions).toEqual([]);
      expect(machine).toEqual({
        role: 'database',
        groups: ['data', 'backup'],
        rebootOrder: 2,
        dependencies: ['nas'],
        healthChecks: [
          { type: 'tcp', port: 5432, url: null, command: null, timeout: 5, expectStatus: null },
          {
            type: 'http',
            url: 'http://localhost:8008/health',
            port: null,
            command: null,
            timeout: 2,
            expectStatus: 204,
          },
          {
            type: 'command',
            command: 'systemctl is-active postgresql',
            url: null,
            port: null,
            timeout: 5,
            expectStatus: null,
          },
        ],
        orchestration: {
          deployStrategy: 'blue-green',
          rebootDelay: 60,
          criticalityLevel: 'high',
          maintenanceWindow: {
            days: ['sat', 'sun'],
            start: '23:00',
            end: '05:00',
            timeZone: 'Europe/Berlin',
          },
        },
        ssh: { host: 'db.lab.example', port: 2222, user: 'deploy' },
        power: NO_POWER,
        monitor: { enable: true, interval: 30, failureThreshold: 5, successThreshold: null },
      });
    });

    it('writes /etc/lab-machine-metadata.json with hostname, enabled services and every lab.machine field', async () => {
      const { machine, metadata } = await evaluateOk('full');
      const { power: _power, ...written } = machine;
      expect(metadata).toEqual({ hostname: 'db', services: ['postgresql', 'sshd'], ...written });
      expect(Object.keys(metadata).sort()).toEqual([
        'dependencies',
        'groups',
        'healthChecks',
        'hostname',
        'monitor',
        'orchestration',
        'rebootOrder',
        'role',
        'services',
        'ssh',
      ]);
    });

    it('asserts each check has the field its type needs and a machine does not depend on itself', async () => {
      const { failedAssertions } = await evaluateOk('broken-checks');
      expect(failedAssertions).toEqual([
        'lab.machine.healthChecks.0: a http check needs `url` (lab.machine.healthChecks.0.url is null)',
        'lab.machine.healthChecks.1: a tcp check needs `port` (lab.machine.healthChecks.1.port is null)',
        'lab.machine.healthChecks.2: a command check needs `command` (lab.machine.healthChecks.2.command is null)',
        'lab.machine.dependencies: machine `web` lists itself (networking.hostName) as a dependency',
      ]);
    });

    it('takes power control: Wake-on-LAN with its defaults, argv commands, an environment file, recover', async () => {
      const { machine, failedAssertions } = await evaluateOk('power');
      expect(failedAssertions).toEqual([]);
      const ipmi = ['ipmitool', '-I', 'lanplus', '-H', 'db-bmc', '-U', 'admin', '-E', 'chassis', 'power'];
      expect(machine.power).toEqual({
        wakeOnLan: { mac: '52:54:00:12:34:56', address: '192.168.1.255', port: 9 },
        command: {
          on: [...ipmi, 'on'],
          off: [...ipmi, 'off'],
          cycle: null,
          status: null,
          environmentFile: '/run/credentials/lab-orchestrator.service/power-db',
          timeout: 60,
        },
        recover: 'power-cycle',
      });
    });

    it('asserts a MAC, argv lists and the environment file of the right shape, naming each option', async () => {
      const { failedAssertions } = await evaluateOk('bad-power');
      expect(failedAssertions).toEqual([
        'lab.machine.power.command.on: must be a non-empty list of non-empty strings (the program, then its arguments), got []',
        'lab.machine.power.command.off: must be a non-empty list of non-empty strings (the program, then its arguments), got ["curl",""]',
        'lab.machine.power.wakeOnLan.mac: must be a MAC address such as 52:54:00:12:34:56 (six hex pairs), got "52:54:00:12:34"',
        'lab.machine.power.command.environmentFile: must be an absolute path outside the Nix store (secrets never go to the store), got "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-power.env"',
      ]);
    });

    it('asserts that recover = "power-cycle" has a way to power-cycle or wake the machine', async () => {
      const { failedAssertions } = await evaluateOk('power-no-method');
      expect(failedAssertions).toEqual([
        'lab.machine.power.recover: "power-cycle" needs a way to do it: lab.machine.power.command.cycle, lab.machine.power.command.off and .on, or lab.machine.power.wakeOnLan',
      ]);
    });

    it('maintenanceWindow: days default to every day, the zone to UTC; an empty window is asserted, a bad time rejected', async () => {
      const { machine, failedAssertions } = await evaluateOk('bad-window');
      expect(machine.orchestration).toMatchObject({
        maintenanceWindow: {
          days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
          start: '02:00',
          end: '02:00',
          timeZone: 'UTC',
        },
      });
      expect(failedAssertions).toEqual([
        'lab.machine.orchestration.maintenanceWindow.end: equals start: the window would be empty',
      ]);
      const result = await evaluate('bad-window-time');
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain('lab.machine.orchestration.maintenanceWindow.start');
      expect(result.stderr).toContain('"2am"');
    });

    it('rejects a value outside an enum, naming the option', async () => {
      const result = await evaluate('bad-enum');
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain('lab.machine.orchestration.criticalityLevel');
      expect(result.stderr).toContain('is not of type');
      expect(result.stderr).toContain('"urgent"');
    });

    it('requires role (no default)', async () => {
      const result = await evaluate('no-role');
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain('lab.machine.role');
    });

    it('documents every option with a description and an example', async () => {
      const { options } = await evaluateOk('minimal');
      expect(options.map((option) => option.name).sort()).toEqual(
        [
          'dependencies',
          'groups',
          'healthChecks',
          'healthChecks.*.command',
          'healthChecks.*.expectStatus',
          'healthChecks.*.port',
          'healthChecks.*.timeout',
          'healthChecks.*.type',
          'healthChecks.*.url',
          'monitor.enable',
          'monitor.failureThreshold',
          'monitor.interval',
          'monitor.successThreshold',
          'orchestration.criticalityLevel',
          'orchestration.deployStrategy',
          'orchestration.maintenanceWindow',
          'orchestration.maintenanceWindow.days',
          'orchestration.maintenanceWindow.end',
          'orchestration.maintenanceWindow.start',
          'orchestration.maintenanceWindow.timeZone',
          'orchestration.rebootDelay',
          'power.command.cycle',
          'power.command.environmentFile',
          'power.command.off',
          'power.command.on',
          'power.command.status',
          'power.command.timeout',
          'power.recover',
          'power.wakeOnLan',
          'power.wakeOnLan.address',
          'power.wakeOnLan.mac',
          'power.wakeOnLan.port',
          'rebootOrder',
          'role',
          'ssh.host',
          'ssh.port',
          'ssh.user',
        ].map((name) => `lab.machine.${name}`),
      );
      expect(options.filter((option) => !option.hasDescription || !option.hasExample)).toEqual([]);
    });
  },
);
