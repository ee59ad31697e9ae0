import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/domain/inventory/load-inventory.js';
import type { Machine } from '../../src/domain/inventory/schema.js';
import { PowerCommandError } from '../../src/domain/power/errors.js';
import { LocalPowerControl } from '../../src/domain/power/local-power-control.js';
import { magicPacket } from '../../src/domain/power/magic-packet.js';
import { recoverMachine } from '../../src/domain/power/recover-machine.js';
import { RebootTimeoutError } from '../../src/domain/reboot/errors.js';
import { SshRebootHost } from '../../src/domain/reboot/ssh-reboot-host.js';
import { sendUdp } from '../../src/transport/net/send-udp.js';
import { loadSshCredentials } from '../../src/transport/ssh/ssh-credentials.js';
import { type Homelab, SIM_WOL_PORT, startHomelab } from '../sim/homelab.js';
import type { PowerRecord } from '../sim/sim-machine.js';
import { runLab } from '../support/run-cli.js';
import { parseEvents } from '../support/run-events.js';

let lab: Homelab;
let host: SshRebootHost;
let machines: Map<string, Machine>;
const power = new LocalPowerControl({ cycleOffMs: 200 });
const recover = 'power-cycle' as const;

beforeAll(async () => {
  lab = await startHomelab({
    bootTimeMs: 200,
    machines: [
      // Hangs in every boot after a reboot; a smart plug's commands power it.
      {
        name: 'plug',
        lab: { role: 'r', rebootOrder: 1 },
        faults: ['never-comes-back'],
        power: { command: 'works', recover },
      },
      // Hangs likewise; only Wake-on-LAN wakes it.
      {
        name: 'sleeper',
        lab: { role: 'r', rebootOrder: 1 },
        faults: ['never-comes-back'],
        power: { wakeOnLan: true, recover },
      },
      // Its power switch cannot be reached.
      {
        name: 'broken',
        lab: { role: 'r', rebootOrder: 1, orchestration: { criticalityLevel: 'low' } },
        power: { command: 'fails' },
      },
    ],
  });
  const inventory = await loadInventory({
    flake: lab.flake,
    nix: { bin: 'nix', options: { substituters: '' } },
  });
  machines = new Map(inventory.machines.map((machine) => [machine.name, machine]));
  host = new SshRebootHost(await loadSshCredentials({}, { ...lab.env, HOME: lab.root }));
});

afterAll(async () => {
  await host?.close();
  await lab?.stop();
});

const machineNamed = (name: string): Machine => {
  const machine = machines.get(name);
  if (!machine) throw new Error(`no machine ${name}`);
  return machine;
};

/** Reboots a machine that hangs in its boot: it goes down and does not come back by itself. */
async function rebootIntoHang(name: string): Promise<string> {
  const machine = machineNamed(name);
  const before = await host.bootId(machine);
  await host.sendReboot(machine, ['systemctl', 'reboot'], before);
  const error = await host
    .waitForNewBoot(machine, before, { deadline: Date.now() + 3_000 })
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(RebootTimeoutError);
  expect((error as RebootTimeoutError).lastSeen).toBe('down');
  return before;
}

/** Waits (polling, at most 10 s) until the machine's power log has a record that `match` accepts. */
async function powerRecord(name: string, match: (record: PowerRecord) => boolean): Promise<PowerRecord> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (Date.now() > deadline)
      throw new Error(`${name}: no such power record in ${JSON.stringify(lab.machine(name).powerLog())}`);
    const record = lab.machine(name).powerLog().find(match);
    if (record) return record;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('Wake-on-LAN to a simulated machine (real UDP on its loopback address)', () => {
  it('a magic packet for another MAC, or a malformed one, leaves it off; lab’s recovery wakes it with its own', async () => {
    const before = await rebootIntoHang('sleeper');
    const sim = lab.machine('sleeper');
    await sendUdp(magicPacket('02:00:00:00:99:99'), sim.address, SIM_WOL_PORT);
    // Its own MAC, but cut short: not a magic packet.
    await sendUdp(magicPacket(sim.mac).subarray(0, 60), sim.address, SIM_WOL_PORT);
    expect(await powerRecord('sleeper', (r) => r.detail === '02:00:00:00:99:99')).toMatchObject({
      switched: false,
    });
    expect(await powerRecord('sleeper', (r) => r.detail === 'malformed')).toMatchObject({ switched: false });
    expect(sim.isUp).toBe(false);
    expect(lab.bootLog('sleeper')).toHaveLength(1);

    const results: unknown[] = [];
    const outcome = await recoverMachine(
      machineNamed('sleeper'),
      { probe: (machine) => host.probe(machine), power },
      { onPower: (result) => results.push(result) },
    );
    expect(outcome.kind).toBe('powered');
    if (outcome.kind !== 'powered') return;
    expect(outcome.action).toBe('on');
    expect(outcome.result).toMatchObject({ ok: true, action: 'on', error: null });
    expect(outcome.result.steps).toEqual([
      expect.objectContaining({
        method: 'wake-on-lan',
        target: `${sim.mac} via ${sim.address}:${SIM_WOL_PORT}`,
        ok: true,
      }),
    ]);
    expect(results).toEqual([outcome.result]);
    const back = await host.waitForNewBoot(machineNamed('sleeper'), before, {
      deadline: Date.now() + 20_000,
    });
    expect(await powerRecord('sleeper', (r) => r.detail === sim.mac)).toMatchObject({
      event: 'wol',
      switched: true,
    });
    const boots = lab.bootLog('sleeper');
    expect(boots).toHaveLength(2);
    expect(back.bootId).toBe(boots[1]?.bootId);
    expect(back.bootId).not.toBe(before);
  });
});

describe('power commands (argv, no shell) and lab’s recovery', () => {
  it('never power-cycles a machine that answers SSH', async () => {
    const bootId = await host.bootId(machineNamed('plug'));
    const logged = lab.machine('plug').powerLog().length;
    const outcome = await recoverMachine(machineNamed('plug'), {
      probe: (machine) => host.probe(machine),
      power,
    });
    expect(outcome).toEqual({ kind: 'answers', bootId, reason: null });
    expect(lab.machine('plug').powerLog()).toHaveLength(logged);
    expect(lab.bootLog('plug')).toHaveLength(1);
  });

  it('power-cycles a machine that hung after its reboot, once: back with a new boot id', async () => {
    const before = await rebootIntoHang('plug');
    const outcome = await recoverMachine(machineNamed('plug'), {
      probe: (machine) => host.probe(machine),
      power,
    });
    expect(outcome.kind).toBe('powered');
    if (outcome.kind !== 'powered') return;
    expect(outcome.action).toBe('cycle');
    expect(outcome.result.ok).toBe(true);
    expect(outcome.result.steps).toEqual([
      expect.objectContaining({ method: 'command cycle', exitCode: 0, output: 'power cycled', ok: true }),
    ]);
    const back = await host.waitForNewBoot(machineNamed('plug'), before, { deadline: Date.now() + 20_000 });
    expect(back.bootId).not.toBe(before);
    expect(lab.bootLog('plug').map((boot) => boot.bootId)).toEqual([before, back.bootId]);
    expect(
      lab
        .machine('plug')
        .powerLog()
        .filter((r) => r.event === 'cycle'),
    ).toHaveLength(1);
  });

  it('reports a failing power command naming the machine, the method and the reason, with its exit status and output', async () => {
    const result = await power.cycle(machineNamed('broken'));
    expect(result.ok).toBe(false);
    expect(result.error).toBeInstanceOf(PowerCommandError);
    expect(result.error?.message).toBe(
      'power command cycle of broken failed: exit code 2: power switch of broken unreachable',
    );
    expect(result.steps).toEqual([
      expect.objectContaining({
        method: 'command cycle',
        exitCode: 2,
        output: 'power switch of broken unreachable',
        ok: false,
      }),
    ]);
    expect(lab.machine('broken').isUp).toBe(true);
  });
});

describe('lab power', () => {
  const labPower = (...args: string[]) =>
    runLab(
      ['power', '--flake', lab.flake, '--nix-option', 'substituters=', '--as', 'tester', ...args],
      lab.env,
    );

  it('reads the power state: a line for the action and the command’s output', async () => {
    const result = await labPower('plug', 'status');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^ +\d+\.\ds {2}plug {6}power status by tester: command status: exit 0 \(power on\)$/,
    );
    expect(lines.slice(1)).toEqual(['  power on']);
  });

  it('--json: the machine.power event, with trigger, method, exit status and output', async () => {
    const result = await labPower('plug', 'status', '--json');
    expect(result.exitCode).toBe(0);
    const events = parseEvents(result.stdout);
    expect(events).toEqual([
      expect.objectContaining({
        type: 'machine.power',
        machine: 'plug',
        action: 'status',
        trigger: 'operator',
        by: 'tester',
        ok: true,
        reason: null,
        steps: [
          expect.objectContaining({ method: 'command status', exitCode: 0, output: 'power on', ok: true }),
        ],
      }),
    ]);
  });

  it('a failing power command: exit 1, the error naming machine, method and reason, the event still printed', async () => {
    const result = await labPower('broken', 'cycle', '--json');
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      'power command cycle of broken failed: exit code 2: power switch of broken unreachable',
    );
    expect(parseEvents(result.stdout)).toEqual([
      expect.objectContaining({
        type: 'machine.power',
        machine: 'broken',
        ok: false,
        steps: [expect.objectContaining({ exitCode: 2 })],
      }),
    ]);
  });

  it('refuses what the machine has no power control for, touching nothing', async () => {
    const result = await labPower('sleeper', 'off');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(
      'no power control to power off sleeper: set lab.machine.power.command.off',
    );
  });
});
