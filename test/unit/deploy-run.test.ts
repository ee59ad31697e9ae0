import { describe, expect, it } from 'vitest';
import type { Machine } from '../../src/domain/inventory/schema.js';
import { deploySteps } from '../../src/domain/planner/deploy-steps.js';
import { planSequence } from '../../src/domain/planner/plan.js';
import { createDeployRun, DeployRun, type DeployRunState } from '../../src/orchestration/deploy-run.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';
import { inventoryOf, machine } from '../support/machines.js';
import { NixosMachines } from '../support/nixos-machines.js';

function setup(machines: Machine[], host = new NixosMachines(), build = (name: string) => `/new/${name}`) {
  const steps = deploySteps(planSequence(inventoryOf(machines)));
  const state = createDeployRun(steps, { flake: 't', settings: { healthTimeout: 0 } });
  const events: RunEvent[] = [];
  const run = new DeployRun(state, {
    host,
    build: async (names) => new Map(names.map((name) => [name, build(name)])),
    healthIntervalMs: 1,
  }).on((event) => events.push(event));
  return { state, host, events, run };
}

const rolledBack = (events: RunEvent[]) => events.filter((e) => e.type === 'machine.rolled-back');

describe('DeployRun', () => {
  it('rolls back every machine of a recreate group when one of them fails', async () => {
    const { run, host, events } = setup([
      machine('a', { deployStrategy: 'recreate' }),
      machine('b', { deployStrategy: 'recreate' }),
      machine('c', { rebootOrder: 2 }),
    ]);
    host.unhealthy.add('/new/b');
    const final = await run.run();
    expect(final.status).toBe('failed');
    expect(host.state('a').running).toBe('/old/a');
    expect(host.state('b').running).toBe('/old/b');
    expect(host.state('a').generations).toEqual(new Map([[1, '/old/a']]));
    expect(host.log.some((line) => line.includes(' c '))).toBe(false);
    expect(rolledBack(events).map((e) => 'machine' in e && e.machine)).toEqual(['a', 'b']);
    expect(events.at(-1)).toMatchObject({ failure: { phase: 'health' }, pending: ['c'] });
  });

  it('does not roll back a machine whose copy failed: nothing was activated', async () => {
    const { run, host, events } = setup([machine('a')]);
    host.failCopy.add('a');
    const final = await run.run();
    expect(final.status).toBe('failed');
    expect(host.log).toEqual(['copy a']);
    expect(events.find((e) => e.type === 'machine.failed')).toMatchObject({
      phase: 'copy',
      reason: 'no space left on device',
    });
    expect(events.some((e) => e.type === 'machine.rolling-back')).toBe(false);
  });

  it('reports a rollback that itself fails', async () => {
    const { run, host, events } = setup([machine('a')]);
    host.unhealthy.add('/new/a');
    host.failRestore.add('a');
    await run.run();
    expect(rolledBack(events)).toEqual([
      expect.objectContaining({
        ok: false,
        reason: 'putting its profile back on generation 1 failed: profile is locked',
        verified: null,
      }),
    ]);
  });

  it('two failed deploys in a row: each goes back to exactly the system that ran before', async () => {
    const host = new NixosMachines();
    for (const attempt of [1, 2]) {
      const { run, events } = setup([machine('a')], host, () => `/new/a-${attempt}`);
      host.unhealthy.add(`/new/a-${attempt}`);
      expect((await run.run()).status).toBe('failed');
      expect(events.find((e) => e.type === 'machine.rolling-back')).toMatchObject({
        to: '/old/a',
        generation: 1,
      });
      expect(rolledBack(events)).toEqual([
        expect.objectContaining({
          ok: true,
          reason: null,
          verified: {
            system: '/old/a',
            current: '/old/a',
            profile: '/old/a',
            generation: 1,
            bootDefault: '/old/a',
            bootLoader: 'systemd-boot',
            bootUnknown: null,
            healthy: true,
          },
        }),
      ]);
      // Profile, running system and boot default agree on the system before; the failed
      // generation is gone.
      expect(host.state('a')).toEqual({
        running: '/old/a',
        generations: new Map([[1, '/old/a']]),
        current: 1,
        bootDefault: '/old/a',
      });
    }
    // nix-env --set numbers a generation one above the highest there is: the deleted 2 again.
    expect(host.log.filter((line) => line.startsWith('restore'))).toEqual([
      'restore a 1 delete 2',
      'restore a 1 delete 2',
    ]);
  });

  it('says what disagrees instead of "rolled back" when the machine does not read back as before', async () => {
    const { run, host, events } = setup([machine('a')]);
    host.unhealthy.add('/new/a');
    // A boot loader that keeps the failed system as its default.
    const switchTo = host.switchTo.bind(host);
    host.switchTo = async (m, system, action, id) => {
      await switchTo(m, system, action, id);
      if (system === '/old/a') host.state('a').bootDefault = '/new/a';
    };
    await run.run();
    expect(rolledBack(events)).toEqual([
      expect.objectContaining({
        ok: false,
        reason: 'its boot default (systemd-boot) is /new/a, not /old/a',
        verified: expect.objectContaining({ current: '/old/a', bootDefault: '/new/a', healthy: true }),
      }),
    ]);
  });

  it('says the boot default is unknown when it cannot be read, and does not count it as agreeing', async () => {
    const { run, host, events } = setup([machine('a')]);
    host.unhealthy.add('/new/a');
    host.bootUnknown.add('a');
    const final = await run.run();
    expect(final.progress.a?.rollback).toMatchObject({
      ok: true,
      verified: { bootDefault: null, bootUnknown: expect.stringContaining('no systemd-boot') },
    });
    expect(rolledBack(events)).toHaveLength(1);
  });

  it('blue-green: tests the system, then makes it the boot default with `boot`, never switching it', async () => {
    const { run, host } = setup([machine('a', { deployStrategy: 'blue-green' })]);
    expect((await run.run()).status).toBe('succeeded');
    expect(host.activations).toEqual(['a test /new/a', 'a boot /new/a']);
    expect(host.state('a')).toEqual({
      running: '/new/a',
      generations: new Map([
        [1, '/old/a'],
        [2, '/new/a'],
      ]),
      current: 2,
      bootDefault: '/new/a',
    });
  });

  it('blue-green: a failed gate goes back with `test` only: nothing was persisted', async () => {
    const { run, host, events } = setup([machine('a', { deployStrategy: 'blue-green' })]);
    host.unhealthy.add('/new/a');
    await run.run();
    expect(host.activations).toEqual(['a test /new/a', 'a test /old/a']);
    expect(host.log.some((line) => line.startsWith('set') || line.startsWith('restore'))).toBe(false);
    expect(rolledBack(events)).toEqual([expect.objectContaining({ ok: true })]);
  });

  it('rolls back to what ran when it was not the profile: the profile system as boot default, what ran tested', async () => {
    const host = new NixosMachines();
    Object.assign(host.state('a'), { running: '/tried/a' }); // someone ran `test` of /tried/a
    const { run, events } = setup([machine('a')], host);
    host.unhealthy.add('/new/a');
    await run.run();
    expect(host.activations).toEqual(['a switch /new/a', 'a boot /old/a', 'a test /tried/a']);
    expect(host.state('a')).toMatchObject({ running: '/tried/a', current: 1, bootDefault: '/old/a' });
    expect(rolledBack(events)).toEqual([expect.objectContaining({ ok: true })]);
  });

  it('reports the machines that need a reboot after a successful deploy', async () => {
    const { run, host, events } = setup([machine('a'), machine('b')]);
    host.kernelChanged.add('a');
    const final = await run.run();
    expect(final.status).toBe('succeeded');
    expect(final.needsReboot).toEqual(['a']);
    expect(events.filter((e) => e.type === 'machine.needs-reboot')).toEqual([
      expect.objectContaining({ machine: 'a', changed: ['kernel'] }),
    ]);
  });

  it('keeps the state JSON-serialisable', async () => {
    const { run, state, host } = setup([machine('a')]);
    host.unhealthy.add('/new/a');
    await run.run();
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });

  it('finishes a rollback a crash interrupted, without repeating its activation', async () => {
    const host = new NixosMachines();
    host.unhealthy.add('/new/a');
    let saved: DeployRunState | undefined;
    const { state } = setup([machine('a')], host);
    // The worker dies right after the rollback's activation id was saved (before it ran).
    let dead = false;
    const dying = new DeployRun(structuredClone(state), {
      host,
      build: async () => new Map([['a', '/new/a']]),
      healthIntervalMs: 1,
      checkpoint: (s) => {
        if (dead) return new Promise(() => {});
        saved = structuredClone(s);
        if (s.progress.a?.rollbackSteps?.[0]?.kind === 'activate' && s.progress.a.activation) {
          dead = true;
          return new Promise(() => {});
        }
      },
    });
    void dying.run();
    await expect.poll(() => dead).toBe(true);
    expect(host.activations).toEqual(['a switch /new/a']);
    const resumed = new DeployRun(saved as DeployRunState, {
      host,
      build: async () => new Map([['a', '/new/a']]),
      healthIntervalMs: 1,
    });
    const events: RunEvent[] = [];
    const final = await resumed.on((event) => events.push(event)).run();
    expect(final.status).toBe('failed');
    expect(host.activations).toEqual(['a switch /new/a', 'a switch /old/a']);
    expect(final.progress.a?.rollback).toMatchObject({ ok: true });
    expect(final.progress.a?.rollbackSteps).toBeNull();
    expect(rolledBack(events)).toEqual([expect.objectContaining({ ok: true })]);
  });
});
