import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Homelab } from '../sim/homelab.js';
import { http, standardMachines, startTestHomelab } from '../support/homelabs.js';
import { runLabOn, TEST_REBOOT_DEADLINES } from '../support/run-cli.js';
import { eventsOf, parseEvents } from '../support/run-events.js';

let lab: Homelab;
const names = ['api', 'backup', 'cache', 'db', 'nas', 'web'];

beforeAll(async () => {
  lab = await startTestHomelab({
    nas: standardMachines.nas,
    backup: { role: 'backup', rebootOrder: 1, dependencies: ['nas'], orchestration: { rebootDelay: 1 } },
    cache: { role: 'cache', rebootOrder: 1, serves: [http(6379)] },
    db: { ...standardMachines.db, orchestration: { criticalityLevel: 'high' } },
    api: { role: 'api', rebootOrder: 2, dependencies: ['db'], serves: [http(8080)] },
    web: { ...standardMachines.web, rebootOrder: 2 },
  });
});

afterAll(async () => {
  await lab?.stop();
});

const reboot = (...args: string[]) => runLabOn(lab, 'reboot', ['--json', ...TEST_REBOOT_DEADLINES, ...args]);

/** The machines in the order they really went down, from their own boot records. */
function rebootOrder(since: number): string[] {
  return names
    .flatMap((name) => lab.bootLog(name).map((boot) => ({ name, downAt: boot.downAt })))
    .filter((boot): boot is { name: string; downAt: number } => boot.downAt !== null && boot.downAt >= since)
    .sort((a, b) => a.downAt - b.downAt)
    .map((boot) => boot.name);
}

/** [went down, came back] of the machine's reboot after `since`, from its boot records. */
function outage(name: string, since: number): [number, number] {
  const boots = lab.bootLog(name);
  const index = boots.findIndex((boot) => boot.downAt !== null && boot.downAt >= since);
  return [boots[index]?.downAt as number, boots[index + 1]?.upAt as number];
}

describe('lab reboot on the simulated homelab', () => {
  it('refuses to reboot a high machine without a terminal or --yes, touching nothing', async () => {
    const result = await reboot('--all');
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toBe('lab: db (high) need a confirmation: run on a terminal, or pass --yes\n');
    expect(names.every((name) => lab.bootLog(name).length === 1)).toBe(true);
  });

  it('reboots every machine exactly once, in the planned order, each back before the next', async () => {
    const since = Date.now();
    const result = await reboot('--all', '--yes');
    expect(result.stderr).toBe('');
    expect(result.exitCode, result.stdout).toBe(0);
    expect(rebootOrder(since)).toEqual(['cache', 'nas', 'backup', 'db', 'api', 'web']);
    for (const name of names) expect(lab.bootLog(name)).toHaveLength(2);

    const order = rebootOrder(since);
    for (let i = 1; i < order.length; i++) {
      const [, previousBack] = outage(order[i - 1] as string, since);
      const [down] = outage(order[i] as string, since);
      expect(down).toBeGreaterThanOrEqual(previousBack);
    }

    const events = parseEvents(result.stdout);
    for (const up of eventsOf(events, 'machine.up')) {
      const boots = lab.bootLog(up.machine);
      expect(up.previousBootId).toBe(boots[0]?.bootId);
      expect(up.bootId).toBe(boots[1]?.bootId);
      // Never "up" before the machine really was.
      expect(Date.parse(up.at)).toBeGreaterThanOrEqual(boots[1]?.upAt ?? Number.POSITIVE_INFINITY);
    }
    expect(eventsOf(events, 'machine.succeeded').map((event) => event.machine)).toEqual(order);
    expect(events.at(-1)).toMatchObject({
      type: 'run.finished',
      status: 'succeeded',
      failure: null,
      pending: [],
    });
  });

  it("honours each machine's rebootDelay", async () => {
    const since = Date.now();
    const result = await reboot('nas', 'backup', '--yes');
    expect(result.exitCode).toBe(0);
    const waiting = eventsOf(parseEvents(result.stdout), 'machine.waiting');
    expect(waiting).toEqual([expect.objectContaining({ machine: 'backup', reason: 'delay', seconds: 1 })]);
    const [, nasBack] = outage('nas', since);
    const [backupDown] = outage('backup', since);
    expect(backupDown - nasBack).toBeGreaterThanOrEqual(1000);
  });

  it('with --parallel, overlaps machines of one step and never machines of different steps', async () => {
    const since = Date.now();
    const result = await reboot('--all', '--yes', '--parallel', '2');
    expect(result.exitCode).toBe(0);
    const steps = eventsOf(parseEvents(result.stdout), 'step.started').map((event) => event.machines);
    expect(steps).toEqual([['cache', 'nas'], ['backup'], ['db'], ['api', 'web']]);
    const [cacheDown, cacheBack] = outage('cache', since);
    const [nasDown, nasBack] = outage('nas', since);
    expect(nasDown).toBeLessThan(cacheBack); // together
    expect(cacheDown).toBeLessThan(nasBack);
    const [apiDown, apiBack] = outage('api', since);
    const [webDown, webBack] = outage('web', since);
    expect(apiDown).toBeLessThan(webBack);
    expect(webDown).toBeLessThan(apiBack);
    const [dbDown, dbBack] = outage('db', since);
    expect(dbDown).toBeGreaterThanOrEqual(Math.max(nasBack, cacheBack, outage('backup', since)[1]));
    expect(Math.min(apiDown, webDown)).toBeGreaterThanOrEqual(dbBack);
  });

  it('with --only-needed, reboots only machines whose booted kernel differs from the current one', async () => {
    await lab.switchSystem('api', { newKernel: true });
    await lab.switchSystem('web', { newKernel: false });
    const before = Object.fromEntries(names.map((name) => [name, lab.bootLog(name).length]));
    const result = await reboot('--all', '--yes', '--only-needed');
    expect(result.exitCode).toBe(0);
    const events = parseEvents(result.stdout);
    expect(eventsOf(events, 'machine.succeeded').map((event) => event.machine)).toEqual(['api']);
    expect(eventsOf(events, 'machine.skipped').map((event) => event.machine)).toEqual([
      'cache',
      'nas',
      'backup',
      'db',
      'web',
    ]);
    expect(eventsOf(events, 'machine.skipped')[0]?.reason).toBe(
      'booted system is current (kernel, initrd and modules unchanged)',
    );
    for (const name of names)
      expect(lab.bootLog(name).length).toBe((before[name] ?? 0) + (name === 'api' ? 1 : 0));
  });
});
