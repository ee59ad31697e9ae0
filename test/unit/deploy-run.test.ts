import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/domain/deploy/errors.js';
import type { Machine } from '../../src/domain/inventory/schema.js';
import { deploySteps } from '../../src/domain/planner/deploy-steps.js';
import { planSequence } from '../../src/domain/planner/plan.js';
import { deployEngine } from '../../src/orchestration/procedures/deploy.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';
import { RunCancelled } from '../../src/orchestration/run-flow.js';
import { createDeployRun, type DeployRunState } from '../../src/orchestration/run-state.js';
import { stateful } from '../support/fake-host.js';
import { inventoryOf, machine } from '../support/machines.js';
import { NixosMachines } from '../support/nixos-machines.js';

function setup(machines: Machine[], host = new NixosMachines(), build = (name: string) => `/new/${name}`) {
  const steps = deploySteps(planSequence(inventoryOf(machines)));
  const state = createDeployRun(steps, { flake: 't', settings: { healthTimeout: 0 } });
  const events: RunEvent[] = [];
  const run = stateful(
    deployEngine(state, {
      host,
      build: async (names) => new Map(names.map((name) => [name, build(name)])),
      healthIntervalMs: 1,
    }),
  ).on((event) => events.push(event));
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

  it('a cancel during an activation sees it to the end (blue-green: gate and commit); later machines untouched', async () => {
    const { run, host, events } = setup([
      machine('a', { deployStrategy: 'blue-green' }),
      machine('b', { rebootOrder: 2 }),
    ]);
    const controller = new AbortController();
    const switchTo = host.switchTo.bind(host);
    host.switchTo = async (m, system, action, id) => {
      if (m.name === 'a' && action === 'test') controller.abort(new RunCancelled('cancelled by bob'));
      await switchTo(m, system, action, id);
    };
    const final = await run.run(controller.signal);
    expect(final.status).toBe('cancelled');
    // Committed with boot: the tested system is not activated a second time.
    expect(host.log).toEqual(['copy a', 'test a /new/a', 'set a 2 /new/a', 'boot a /new/a']);
    expect(host.state('a')).toMatchObject({ running: '/new/a', bootDefault: '/new/a', current: 2 });
    expect(events.filter((e) => e.type === 'run.cancelling')).toEqual([
      expect.objectContaining({ reason: 'cancelled by bob', finishing: ['a'] }),
    ]);
    expect(events.at(-1)).toMatchObject({
      type: 'run.finished',
      status: 'cancelled',
      pending: ['b'],
      outcomes: [
        { machine: 'a', outcome: 'deployed' },
        { machine: 'b', outcome: 'not touched' },
      ],
    });
  });

  it('a machine that fails its health after a cancel is rolled back and reported so', async () => {
    const { run, host, events } = setup([machine('a'), machine('b', { rebootOrder: 2 })]);
    host.unhealthy.add('/new/a');
    const controller = new AbortController();
    const setProfile = host.setProfile.bind(host);
    host.setProfile = async (m, system) => {
      controller.abort(new RunCancelled('cancelled by bob'));
      return setProfile(m, system);
    };
    const final = await run.run(controller.signal);
    expect(final.status).toBe('cancelled');
    expect(host.state('a').running).toBe('/old/a');
    expect(host.log.some((line) => line.includes(' b'))).toBe(false);
    expect(events.at(-1)).toMatchObject({
      status: 'cancelled',
      failure: { machine: 'a', phase: 'health' },
      pending: ['b'],
      outcomes: [
        { machine: 'a', outcome: 'rolled back' },
        { machine: 'b', outcome: 'not touched' },
      ],
    });
  });

  it('a cancel while a recreate group copies stops the machines not activated yet; the activated one is seen to the end', async () => {
    const { run, host, events } = setup([
      machine('a', { deployStrategy: 'recreate' }),
      machine('b', { deployStrategy: 'recreate' }),
    ]);
    const controller = new AbortController();
    const copy = host.copy.bind(host);
    let release: () => void = () => {};
    const copied = new Promise<void>((resolve) => {
      release = resolve;
    });
    host.copy = async (m) => {
      await copy(m);
      if (m.name === 'b') await copied;
    };
    const switchTo = host.switchTo.bind(host);
    host.switchTo = async (m, system, action, id) => {
      await switchTo(m, system, action, id);
      if (m.name === 'a') {
        controller.abort(new RunCancelled('cancelled by bob'));
        release();
      }
    };
    const final = await run.run(controller.signal);
    expect(final.status).toBe('cancelled');
    expect(host.state('a').running).toBe('/new/a');
    expect(host.state('b').running).toBe('/old/b');
    expect(events.at(-1)).toMatchObject({
      pending: ['b'],
      outcomes: [
        { machine: 'a', outcome: 'deployed' },
        { machine: 'b', outcome: 'not touched' },
      ],
    });
  });

  it('a build failure names the machines whose systems failed; a retry builds again', async () => {
    const { state, host, events } = setup([machine('a'), machine('b'), machine('c', { rebootOrder: 2 })]);
    let builds = 0;
    const run = stateful(
      deployEngine(state, {
        host,
        build: async (names) => {
          builds += 1;
          if (builds === 1)
            throw BuildError.ofMachines(new Map([['b', "builder for 'x.drv' failed"]]), ['a', 'c']);
          return new Map(names.map((name) => [name, `/new/${name}`]));
        },
        healthIntervalMs: 1,
        haltForMs: 60_000,
      }),
    ).on((event) => events.push(event));
    const halted = await run.run();
    expect(halted.status).toBe('halted');
    expect(halted.halt).toMatchObject({ machine: null, machines: ['b'], phase: 'build' });
    expect(halted.progress.b).toMatchObject({
      phase: 'pending',
      error: { phase: 'build', reason: "builder for 'x.drv' failed" },
    });
    expect(events.filter((e) => e.type === 'machine.failed')).toEqual([
      expect.objectContaining({ machine: 'b', phase: 'build', reason: "builder for 'x.drv' failed" }),
    ]);
    expect(events.at(-1)).toMatchObject({ type: 'run.halted', machine: null, machines: ['b'] });
    expect(host.log).toEqual([]);
    await run.decide('retry', 'bob');
    const final = await run.run();
    expect(final.status).toBe('succeeded');
    expect(final.progress.b?.error).toBeNull();
  });

  it('abort of a halted deploy ends it as aborted, with the failure and who', async () => {
    const { state, host, events } = setup([machine('a'), machine('b', { rebootOrder: 2 })]);
    host.unhealthy.add('/new/a');
    const run = stateful(
      deployEngine(state, {
        host,
        build: async (names) => new Map(names.map((name) => [name, `/new/${name}`])),
        healthIntervalMs: 1,
        haltForMs: 60_000,
      }),
    ).on((event) => events.push(event));
    expect((await run.run()).status).toBe('halted');
    await run.decide('abort', 'bob');
    expect(state).toMatchObject({ status: 'aborted', abortReason: 'aborted by bob after a failed' });
    expect(events.at(-1)).toMatchObject({
      type: 'run.finished',
      status: 'aborted',
      reason: 'aborted by bob after a failed',
      failure: { machine: 'a', phase: 'health' },
      pending: ['b'],
      outcomes: [
        { machine: 'a', outcome: 'rolled back' },
        { machine: 'b', outcome: 'not touched' },
      ],
    });
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
    const dying = stateful(
      deployEngine(structuredClone(state), {
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
      }),
    );
    void dying.run();
    await expect.poll(() => dead).toBe(true);
    expect(host.activations).toEqual(['a switch /new/a']);
    const resumed = stateful(
      deployEngine(saved as DeployRunState, {
        host,
        build: async () => new Map([['a', '/new/a']]),
        healthIntervalMs: 1,
      }),
    );
    const events: RunEvent[] = [];
    const final = await resumed.on((event) => events.push(event)).run();
    expect(final.status).toBe('failed');
    expect(host.activations).toEqual(['a switch /new/a', 'a switch /old/a']);
    expect(final.progress.a?.rollback).toMatchObject({ ok: true });
    expect(final.progress.a?.rollbackSteps).toBeNull();
    expect(rolledBack(events)).toEqual([expect.objectContaining({ ok: true })]);
  });
});
