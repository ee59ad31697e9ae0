// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${NAME} is the placeholder syntax of power commands, not a template
import { describe, expect, it } from 'vitest';
import { NoPowerControlError } from '../../src/domain/power/errors.js';
import { macBytes, magicPacket, magicPacketTarget } from '../../src/domain/power/magic-packet.js';
import {
  parseEnvironmentFile,
  powerSteps,
  recoveryAction,
  redact,
  resolveArgv,
} from '../../src/domain/power/power-steps.js';
import { powerEventText } from '../../src/orchestration/power-text.js';
import { machine } from '../support/machines.js';

const NO_COMMANDS = { on: null, off: null, cycle: null, status: null, environmentFile: null, timeout: 60 };
const withPower = (power: Partial<NonNullable<ReturnType<typeof machine>['power']>>) =>
  machine('db', {
    power: { wakeOnLan: null, command: NO_COMMANDS, recover: 'never', ...power },
  });

describe('magic packet', () => {
  it('is 6 bytes 0xFF, then the MAC 16 times: 102 bytes', () => {
    const packet = magicPacket('01:23:45:67:89:AB');
    expect(packet.toString('hex')).toBe(`ffffffffffff${'0123456789ab'.repeat(16)}`);
    expect(packet).toHaveLength(102);
    expect(magicPacket('01-23-45-67-89-ab').equals(packet)).toBe(true);
  });

  it('refuses what is not a MAC', () => {
    expect(() => macBytes('01:23:45:67:89')).toThrow('not a MAC address: "01:23:45:67:89"');
  });

  it('reads the MAC a datagram wakes, only from a well-formed packet', () => {
    expect(magicPacketTarget(magicPacket('52:54:00:12:34:56'))).toBe('52:54:00:12:34:56');
    const broken = Buffer.from(magicPacket('52:54:00:12:34:56'));
    broken[101] = 0x57;
    expect(magicPacketTarget(broken)).toBeNull();
    expect(magicPacketTarget(magicPacket('52:54:00:12:34:56').subarray(0, 101))).toBeNull();
    const noSync = Buffer.from(magicPacket('52:54:00:12:34:56'));
    noSync[0] = 0xfe;
    expect(magicPacketTarget(noSync)).toBeNull();
  });
});

describe('powerSteps', () => {
  const wol = { mac: '52:54:00:12:34:56', address: '192.168.1.255', port: 9 };
  const plug = (action: string) => ['plug', '--host', 'plug-db', action];

  it('turns each action into the machine’s commands', () => {
    const db = withPower({
      command: {
        ...NO_COMMANDS,
        on: plug('on'),
        off: plug('off'),
        cycle: plug('cycle'),
        status: plug('status'),
      },
    });
    expect(powerSteps(db, 'on')).toEqual([{ method: 'command', command: 'on', argv: plug('on') }]);
    expect(powerSteps(db, 'off')).toEqual([{ method: 'command', command: 'off', argv: plug('off') }]);
    expect(powerSteps(db, 'cycle')).toEqual([{ method: 'command', command: 'cycle', argv: plug('cycle') }]);
    expect(powerSteps(db, 'status')).toEqual([
      { method: 'command', command: 'status', argv: plug('status') },
    ]);
  });

  it('composes a cycle of off then on, or off then Wake-on-LAN; powers on by Wake-on-LAN', () => {
    const both = withPower({ command: { ...NO_COMMANDS, on: plug('on'), off: plug('off') } });
    expect(powerSteps(both, 'cycle')).toEqual([
      { method: 'command', command: 'off', argv: plug('off') },
      { method: 'command', command: 'on', argv: plug('on') },
    ]);
    const woken = withPower({ wakeOnLan: wol, command: { ...NO_COMMANDS, off: plug('off') } });
    expect(powerSteps(woken, 'cycle')).toEqual([
      { method: 'command', command: 'off', argv: plug('off') },
      { method: 'wake-on-lan', ...wol },
    ]);
    expect(powerSteps(withPower({ wakeOnLan: wol }), 'on')).toEqual([{ method: 'wake-on-lan', ...wol }]);
  });

  it('refuses what the machine cannot do, naming the options that would make it possible', () => {
    const wolOnly = withPower({ wakeOnLan: wol });
    expect(() => powerSteps(wolOnly, 'off')).toThrow(
      new NoPowerControlError('db', 'power off', 'lab.machine.power.command.off'),
    );
    expect(() => powerSteps(wolOnly, 'off')).toThrow(
      'no power control to power off db: set lab.machine.power.command.off',
    );
    expect(() => powerSteps(machine('web'), 'cycle')).toThrow(
      'no power control to power-cycle web: set lab.machine.power.command.cycle, or lab.machine.power.command.off and lab.machine.power.command.on (or lab.machine.power.wakeOnLan)',
    );
    expect(() => powerSteps(machine('web'), 'on')).toThrow(
      'no power control to power on web: set lab.machine.power.command.on or lab.machine.power.wakeOnLan',
    );
  });

  it('recovers by a cycle where it can, else by waking; never with recover = "never"', () => {
    const cycle = { ...NO_COMMANDS, cycle: plug('cycle') };
    expect(recoveryAction(withPower({ command: cycle, recover: 'power-cycle' }))).toBe('cycle');
    expect(recoveryAction(withPower({ wakeOnLan: wol, recover: 'power-cycle' }))).toBe('on');
    expect(recoveryAction(withPower({ command: cycle }))).toBeNull();
    expect(recoveryAction(machine('web'))).toBeNull();
  });
});

describe('power command environment', () => {
  it('reads NAME=value lines, comments, export and quotes; names a bad line by number only', () => {
    expect(parseEnvironmentFile('# plug\nexport A=1\nB="two words"\n\nC=\'x=y\'\n')).toEqual({
      A: '1',
      B: 'two words',
      C: 'x=y',
    });
    expect(parseEnvironmentFile('A=1\nhunter2\n')).toEqual({ badLine: 2 });
  });

  it('replaces ${NAME} inside arguments, as plain strings; names a variable the file lacks', () => {
    expect(
      resolveArgv(['curl', '-u', 'admin:${PASS}', 'http://plug/${X}?a=$HOME'], { PASS: 'p w;$(x)', X: 'on' }),
    ).toEqual(['curl', '-u', 'admin:p w;$(x)', 'http://plug/on?a=$HOME']);
    expect(resolveArgv(['curl', '${TOKEN}'], {})).toEqual({ missing: 'TOKEN' });
  });

  it('masks secret values in output', () => {
    expect(redact('auth admin:s3cret ok s3cret', ['s3cret', 'ab'])).toBe('auth admin:*** ok ***');
  });
});

describe('powerEventText', () => {
  const base = { runId: 'r', at: '2026-01-01T00:00:00.000Z', elapsedMs: 0, machine: 'db' } as const;
  it('says what, who, each step with its exit status and the end of its output', () => {
    expect(
      powerEventText({
        ...base,
        type: 'machine.power',
        action: 'cycle',
        trigger: 'operator',
        by: 'alice',
        ok: true,
        reason: null,
        steps: [
          {
            method: 'command off',
            argv: ['plug', 'off'],
            target: null,
            exitCode: 0,
            output: 'relay\nOFF',
            durationMs: 5,
            ok: true,
            reason: null,
          },
          {
            method: 'wake-on-lan',
            argv: null,
            target: '52:54:00:12:34:56 via 192.168.1.255:9',
            exitCode: null,
            output: '',
            durationMs: 1,
            ok: true,
            reason: null,
          },
        ],
      }),
    ).toBe(
      'power cycle by alice: command off: exit 0 (OFF); wake-on-lan: magic packet to 52:54:00:12:34:56 via 192.168.1.255:9',
    );
    expect(
      powerEventText({
        ...base,
        type: 'machine.power',
        action: 'cycle',
        trigger: 'recovery',
        by: null,
        ok: false,
        reason: 'power command cycle of db failed: exit code 2: unreachable',
        steps: [
          {
            method: 'command cycle',
            argv: ['plug', 'cycle'],
            target: null,
            exitCode: 2,
            output: 'unreachable',
            durationMs: 5,
            ok: false,
            reason: 'exit code 2: unreachable',
          },
        ],
      }),
    ).toBe(
      "power cycle by lab's recovery (it did not come back) FAILED: power command cycle of db failed: exit code 2: unreachable [command cycle: exit 2]",
    );
  });
});
