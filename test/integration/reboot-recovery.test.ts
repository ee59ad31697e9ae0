import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Homelab } from '../sim/homelab.js';
import { startTestHomelab, tcp } from '../support/homelabs.js';
import { runLabOn } from '../support/run-cli.js';
import { eventsOf, parseEvents } from '../support/run-events.js';

/**
 * lab's automatic recovery in a reboot run (lab.machine.power.recover = "power-cycle"), on the
 * simulated homelab: each machine's power switch logs what it did, its boot log what booted.
 */
let lab: Homelab;
const recovering = { command: 'works', recover: 'power-cycle' } as const;

beforeAll(async () => {
  lab = await startTestHomelab({
    // Hangs in its boot after a reboot; only its power switch brings it back.
    hung: { role: 'r', rebootOrder: 1, serves: [tcp(5432)], faults: ['never-comes-back'], power: recovering },
    // Comes after hung: the run goes on to it.
    after: { role: 'r', rebootOrder: 2, serves: [tcp(5433)] },
    // Not even its power switch brings it back.
    gone: { role: 'r', rebootOrder: 1, faults: ['dead'], power: recovering },
    // Recovery configured, but it keeps answering SSH (its reboot command does nothing).
    stubborn: { role: 'r', rebootOrder: 1, power: recovering },
  });
});

afterAll(async () => {
  await lab?.stop();
});

const reboot = (...args: string[]) => runLabOn(lab, 'reboot', ['--yes', ...args]);

const powerActions = (name: string) =>
  lab
    .machine(name)
    .powerLog()
    .filter((record) => record.event !== 'status');

describe('lab reboot: automatic power recovery', () => {
  it('power-cycles a machine that never comes back, once: it is back, healthy, and the run goes on', async () => {
    const before = lab.bootLog('hung')[0]?.bootId;
    const result = await reboot('hung', 'after', '--reboot-timeout', '4', '--json');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const events = parseEvents(result.stdout);
    expect(eventsOf(events, 'machine.power')).toEqual([
      expect.objectContaining({
        machine: 'hung',
        action: 'cycle',
        trigger: 'recovery',
        by: null,
        ok: true,
        steps: [expect.objectContaining({ method: 'command cycle', exitCode: 0, ok: true })],
      }),
    ]);
    // What the machine shows: one power cycle by its switch, and a second boot, the one lab saw.
    expect(powerActions('hung')).toEqual([expect.objectContaining({ event: 'cycle', switched: true })]);
    const boots = lab.bootLog('hung').map((boot) => boot.bootId);
    expect(boots).toHaveLength(2);
    expect(boots[0]).toBe(before);
    const up = eventsOf(events, 'machine.up').find((event) => event.machine === 'hung');
    expect(up).toMatchObject({ bootId: boots[1], previousBootId: before });
    const order = events
      .filter((event) => 'machine' in event && event.machine === 'hung')
      .map((event) => event.type);
    expect(order.indexOf('machine.power')).toBeGreaterThan(order.indexOf('machine.down'));
    expect(order.indexOf('machine.up')).toBeGreaterThan(order.indexOf('machine.power'));
    expect(
      eventsOf(events, 'machine.health')
        .filter((e) => e.machine === 'hung')
        .at(-1),
    ).toMatchObject({
      ok: true,
    });
    expect(eventsOf(events, 'machine.succeeded').map((event) => event.machine)).toEqual(['hung', 'after']);
    expect(lab.bootLog('after')).toHaveLength(2);
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
  });

  it('a machine still dead after its power cycle fails the run, naming the reboot and the power cycle', async () => {
    const result = await reboot('gone', '--reboot-timeout', '3', '--json');
    expect(result.exitCode).toBe(1);
    const events = parseEvents(result.stdout);
    expect(eventsOf(events, 'machine.power')).toEqual([
      expect.objectContaining({ machine: 'gone', action: 'cycle', trigger: 'recovery', ok: true }),
    ]);
    expect(eventsOf(events, 'machine.failed')).toEqual([
      expect.objectContaining({
        machine: 'gone',
        phase: 'coming back',
        reason:
          'gone did not come back within 3 s of the reboot command (SSH never answered again); lab power-cycled gone once, and it did not come back within 3 s of that either (SSH never answered again)',
      }),
    ]);
    expect(powerActions('gone')).toEqual([expect.objectContaining({ event: 'cycle' })]);
    expect(lab.bootLog('gone')).toHaveLength(1);
    expect(lab.machine('gone').isUp).toBe(false);
  });

  it('never power-cycles a machine that answers SSH, even when it did not reboot in time', async () => {
    const bootId = lab.bootLog('stubborn')[0]?.bootId as string;
    const result = await reboot('stubborn', '--reboot-timeout', '2', '--reboot-command', 'true', '--json');
    expect(result.exitCode).toBe(1);
    const events = parseEvents(result.stdout);
    expect(eventsOf(events, 'machine.power')).toEqual([]);
    expect(eventsOf(events, 'machine.failed')).toEqual([
      expect.objectContaining({
        machine: 'stubborn',
        phase: 'coming back',
        reason: `stubborn did not reboot within 2 s: it still answers with the boot id it had before; stubborn answers SSH (boot ${bootId.slice(0, 8)}), so lab did not power-cycle it`,
      }),
    ]);
    expect(powerActions('stubborn')).toEqual([]);
    expect(lab.bootLog('stubborn')).toHaveLength(1);
    expect(lab.machine('stubborn').isUp).toBe(true);
  });
});
