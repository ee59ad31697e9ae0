import { describe, expect, it } from 'vitest';
import { parseHosts } from '../../src/domain/inventory/parse-hosts.js';

const managed = (machine: unknown, hostName: unknown = null) => ({
  status: 'managed' as const,
  machine,
  hostName,
});

describe('parseHosts', () => {
  it("applies the module's defaults to a minimal lab.machine", () => {
    const { machines } = parseHosts({ web: managed({ role: 'web', rebootOrder: 1 }, 'web-01') });
    expect(machines).toEqual([
      {
        name: 'web',
        hostName: 'web-01',
        role: 'web',
        groups: [],
        rebootOrder: 1,
        dependencies: [],
        healthChecks: [],
        deployStrategy: 'rolling',
        rebootDelay: 600,
        criticalityLevel: 'medium',
        ssh: { host: 'web-01', port: 22, user: 'root' },
        monitor: { enable: true, interval: null, failureThreshold: null, successThreshold: null },
      },
    ]);
  });

  it('reads lab.machine.monitor and names the machine and the field of a bad value', () => {
    const { machines, broken } = parseHosts({
      db: managed({ role: 'db', rebootOrder: 1, monitor: { interval: 30, failureThreshold: 5 } }),
      web: managed({ role: 'web', rebootOrder: 1, monitor: { interval: 0 } }),
      nas: managed({ role: 'nas', rebootOrder: 1, monitor: { enabled: false } }),
    });
    expect(machines.map((machine) => [machine.name, machine.monitor])).toEqual([
      ['db', { enable: true, interval: 30, failureThreshold: 5, successThreshold: null }],
    ]);
    expect(broken).toEqual([
      { name: 'nas', error: 'lab.machine.monitor.enabled: unknown field', groups: [] },
      {
        name: 'web',
        error: 'lab.machine.monitor.interval: must be at least 1 (seconds) (got 0)',
        groups: [],
      },
    ]);
  });

  it('reads a maintenance window (the module gives null when none is set), with its defaults', () => {
    const window = (maintenanceWindow: unknown) =>
      parseHosts({ web: managed({ role: 'web', rebootOrder: 1, orchestration: { maintenanceWindow } }) });
    expect(window({ start: '23:00', end: '04:00' }).machines[0]?.maintenanceWindow).toEqual({
      days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
      start: '23:00',
      end: '04:00',
      timeZone: 'UTC',
    });
    expect(window(null).machines[0]).not.toHaveProperty('maintenanceWindow');
    expect(window({ days: ['sat'], start: '2am', end: '04:00', timeZone: 'Mars/Olympus' }).broken).toEqual([
      {
        name: 'web',
        groups: [],
        error:
          'lab.machine.orchestration.maintenanceWindow.start: must be a time HH:MM (00:00 to 23:59) (got "2am"); ' +
          'lab.machine.orchestration.maintenanceWindow.timeZone: \'Mars/Olympus\' is not an IANA time zone (e.g. Europe/Berlin, UTC) (got "Mars/Olympus")',
      },
    ]);
    expect(window({ days: ['someday'], start: '01:00', end: '01:00' }).broken[0]?.error).toBe(
      'lab.machine.orchestration.maintenanceWindow.days.0: must be one of "mon", "tue", "wed", "thu", "fri", "sat", "sun", got "someday"',
    );
    expect(window({ start: '01:00', end: '01:00' }).broken[0]?.error).toBe(
      'lab.machine.orchestration.maintenanceWindow.end: equals start (01:00): the window would be empty (got "01:00")',
    );
  });

  it('fills each health check with its defaults', () => {
    const { machines } = parseHosts({
      web: managed({ role: 'web', rebootOrder: 1, healthChecks: [{ type: 'tcp', port: 22 }] }),
    });
    expect(machines[0]?.healthChecks).toEqual([
      { type: 'tcp', url: null, port: 22, command: null, timeout: 5, expectStatus: null },
    ]);
    expect(machines[0]?.ssh.host).toBe('web');
  });

  it('keeps unmanaged hosts apart and sorts by name', () => {
    const parsed = parseHosts({ z: { status: 'unmanaged' }, a: { status: 'unmanaged' } });
    expect(parsed.unmanaged).toEqual([{ name: 'a' }, { name: 'z' }]);
  });

  it.each([
    [{ rebootOrder: 1 }, 'lab.machine.role: is required but not set'],
    [{ role: 'x', rebootOrder: 1.5 }, 'lab.machine.rebootOrder: must be an int, got 1.5'],
    [{ role: 'x', rebootOrder: 'soon' }, 'lab.machine.rebootOrder: must be a number, got "soon"'],
    [
      { role: 'x', rebootOrder: 1, orchestration: { deployStrategy: 'canary' } },
      'lab.machine.orchestration.deployStrategy: must be one of "rolling", "blue-green", "recreate", got "canary"',
    ],
    [
      { role: 'x', rebootOrder: 1, orchestration: { rebootdelay: 5 } },
      'lab.machine.orchestration.rebootdelay: unknown field',
    ],
    [
      { role: 'x', rebootOrder: 1, healthChecks: [{ type: 'tcp' }] },
      'lab.machine.healthChecks.0.port: a tcp check needs port',
    ],
    [
      { role: 'x', rebootOrder: 1, healthChecks: [{ type: 'command', command: null }] },
      'lab.machine.healthChecks.0.command: a command check needs command',
    ],
    [
      { role: 'x', rebootOrder: 1, healthChecks: [{ type: 'http', url: 'localhost/health' }] },
      'lab.machine.healthChecks.0.url: must start with http:// or https://',
    ],
    [
      { role: 'x', rebootOrder: 1, dependencies: ['db; rm -rf /'] },
      'lab.machine.dependencies.0: must be a host name (letters, digits and inner dashes, at most 63)',
    ],
    [
      { role: 'x', rebootOrder: 1, ssh: { host: 'a b', port: 70000 } },
      'lab.machine.ssh.host: must be a host name or IP address',
    ],
  ])('reports %j naming the field', (machine, message) => {
    const { machines, broken } = parseHosts({ host1: managed(machine) });
    expect(machines).toEqual([]);
    expect(broken).toHaveLength(1);
    expect(broken[0]?.name).toBe('host1');
    expect(broken[0]?.error).toContain(message);
  });

  it('refuses a configuration name that is not a host name without looking at it', () => {
    const { broken } = parseHosts({ 'a;b': managed({ role: 'x', rebootOrder: 1 }) });
    expect(broken).toEqual([
      {
        name: 'a;b',
        error:
          "'a;b' is not a valid host name (letters, digits and inner dashes, at most 63): rename the nixosConfigurations entry",
      },
    ]);
  });
});

describe('parseHosts: the groups of a broken host', () => {
  it('keeps the groups of a lab.machine that is wrong elsewhere, so a plan of a group can tell', () => {
    const { broken } = parseHosts({
      grouped: managed({ role: 'x', rebootOrder: 'soon', groups: ['storage', 'data'] }),
      ungrouped: managed({ role: 'x', rebootOrder: 'soon' }),
      badGroups: managed({ role: 'x', rebootOrder: 1, groups: 'storage' }),
      notASet: managed('web'),
      thrower: { status: 'broken', error: 'evaluation failed: boom' },
    });
    expect(Object.fromEntries(broken.map((host) => [host.name, host.groups]))).toEqual({
      badGroups: undefined,
      grouped: ['storage', 'data'],
      notASet: undefined,
      thrower: undefined,
      ungrouped: [],
    });
  });
});

describe('parseHosts: lab.machine.power', () => {
  it('reads power control with the defaults, and leaves it out of a machine without any', () => {
    const { machines } = parseHosts({
      db: managed({
        role: 'db',
        rebootOrder: 1,
        power: {
          wakeOnLan: { mac: '52:54:00:AB:cd:01' },
          command: { cycle: ['plug', 'cycle'] },
          recover: 'power-cycle',
        },
      }),
      web: managed({ role: 'web', rebootOrder: 1 }),
    });
    expect(machines[0]?.power).toEqual({
      wakeOnLan: { mac: '52:54:00:AB:cd:01', address: '255.255.255.255', port: 9 },
      command: {
        on: null,
        off: null,
        cycle: ['plug', 'cycle'],
        status: null,
        environmentFile: null,
        timeout: 60,
      },
      recover: 'power-cycle',
    });
    expect(machines[1]).not.toHaveProperty('power');
  });

  it.each([
    [
      { wakeOnLan: { mac: '52:54:00:12:34' } },
      'lab.machine.power.wakeOnLan.mac: must be a MAC address such as 52:54:00:12:34:56 (six hex pairs) (got "52:54:00:12:34")',
    ],
    [{ wakeOnLan: { mac: '52:54-00:12:34:56' } }, 'lab.machine.power.wakeOnLan.mac: must be a MAC address'],
    [{ wakeOnLan: { mac: '52:54:00:12:34:56', port: 0 } }, 'lab.machine.power.wakeOnLan.port'],
    [
      { command: { on: [] } },
      'lab.machine.power.command.on: must name the program (a non-empty list of strings)',
    ],
    [{ command: { off: ['curl', ''] } }, 'lab.machine.power.command.off.1: must not be an empty string'],
    [
      { command: { cycle: 'ipmitool chassis power cycle' } },
      'lab.machine.power.command.cycle: must be an array, got "ipmitool chassis power cycle"',
    ],
    [
      { command: { environmentFile: '/nix/store/x-power.env' } },
      'lab.machine.power.command.environmentFile: must be an absolute path outside the Nix store (secrets never go to the store)',
    ],
    [
      { command: { environmentFile: 'power.env' } },
      'lab.machine.power.command.environmentFile: must be an absolute path',
    ],
    [{ recover: 'reboot' }, 'lab.machine.power.recover: must be one of "never", "power-cycle", got "reboot"'],
    [
      { recover: 'power-cycle', command: { on: ['plug', 'on'] } },
      'lab.machine.power.recover: "power-cycle" needs a way to do it',
    ],
    [{ command: { onn: ['plug', 'on'] } }, 'lab.machine.power.command.onn: unknown field'],
  ])('reports %j naming the machine and the field', (power, message) => {
    const { machines, broken } = parseHosts({ db: managed({ role: 'x', rebootOrder: 1, power }) });
    expect(machines).toEqual([]);
    expect(broken[0]?.name).toBe('db');
    expect(broken[0]?.error).toContain(message);
  });
});
