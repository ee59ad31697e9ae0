import { describe, expect, it } from 'vitest';
import type { DeployHost } from '../../src/domain/deploy/deploy-host.js';
import { BuildError } from '../../src/domain/deploy/errors.js';
import type { MachineHealth } from '../../src/domain/health/check-result.js';
import type { HostFacts } from '../../src/domain/hosts/host-facts.js';
import type { Machine } from '../../src/domain/inventory/schema.js';
import { deploySteps } from '../../src/domain/planner/deploy-steps.js';
import { planSequence } from '../../src/domain/planner/plan.js';
import { createDeployRun, DeployRun } from '../../src/orchestration/deploy-run.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';
import { RunCancelled } from '../../src/orchestration/run-flow.js';
import { inventoryOf, machine } from '../support/machines.js';

/** An in-memory stand-in for the DeployHost port (the SSH one is tested on the simulated homelab). */
class FakeHost implements DeployHost {
  readonly running = new Map<string, string>();
  readonly profile = new Map<string, string[]>();
  readonly log: string[] = [];
  failCopy = new Set<string>();
  failRollback = new Set<string>();
  /** Systems whose health checks fail. */
  unhealthy = new Set<string>();

  async systems(m: Machine) {
    return {
      current: this.running.get(m.name) ?? `/old/${m.name}`,
      profile: this.profile.get(m.name)?.at(-1) ?? null,
    };
  }
  async copy(m: Machine) {
    this.log.push(`copy ${m.name}`);
    if (this.failCopy.has(m.name)) throw new Error('no space left on device');
  }
  async setProfile(m: Machine, system: string) {
    this.profile.set(m.name, [...(this.profile.get(m.name) ?? []), system]);
  }
  async rollbackProfile(m: Machine) {
    if (this.failRollback.has(m.name)) throw new Error('profile is locked');
    this.profile.get(m.name)?.pop();
  }
  async switchTo(m: Machine, system: string, action: string) {
    this.log.push(`${action} ${m.name} ${system}`);
    this.running.set(m.name, system);
  }
  async checkHealth(m: Machine): Promise<MachineHealth> {
    const ok = !this.unhealthy.has(this.running.get(m.name) ?? '');
    return {
      machine: m.name,
      reachable: true,
      error: null,
      ok,
      checks: [{ name: 'tcp 1', type: 'tcp', ok, latencyMs: 1, error: ok ? null : 'refused' }],
    };
  }
  async facts(m: Machine): Promise<HostFacts> {
    return {
      bootId: 'b',
      currentSystem: null,
      bootedSystem: null,
      needsReboot: m.name === 'a',
      changed: m.name === 'a' ? ['kernel'] : [],
    };
  }
  async close() {}
}

function setup(machines: Machine[]) {
  const steps = deploySteps(planSequence(inventoryOf(machines)));
  const state = createDeployRun(steps, { flake: 't', settings: { healthTimeout: 0 } });
  const host = new FakeHost();
  const events: RunEvent[] = [];
  const run = new DeployRun(state, {
    host,
    build: async (names) => new Map(names.map((name) => [name, `/new/${name}`])),
    healthIntervalMs: 1,
  }).on((event) => events.push(event));
  return { state, host, events, run };
}

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
    expect(host.running.get('a')).toBe('/old/a');
    expect(host.running.get('b')).toBe('/old/b');
    expect(host.profile.get('a')).toEqual([]);
    expect(host.log.some((line) => line.includes(' c '))).toBe(false);
    expect(
      events.filter((e) => e.type === 'machine.rolled-back').map((e) => 'machine' in e && e.machine),
    ).toEqual(['a', 'b']);
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
    host.failRollback.add('a');
    await run.run();
    expect(events.find((e) => e.type === 'machine.rolled-back')).toMatchObject({
      ok: false,
      reason: 'profile is locked',
    });
  });

  it('reports the machines that need a reboot after a successful deploy', async () => {
    const { run, events } = setup([machine('a'), machine('b')]);
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
    host.switchTo = async (m, system, action) => {
      if (m.name === 'a' && action === 'test') controller.abort(new RunCancelled('cancelled by bob'));
      await switchTo(m, system, action);
    };
    const final = await run.run(controller.signal);
    expect(final.status).toBe('cancelled');
    expect(host.log).toEqual(['copy a', 'test a /new/a', 'switch a /new/a']);
    expect(host.profile.get('a')).toEqual(['/new/a']);
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
      await setProfile(m, system);
    };
    const final = await run.run(controller.signal);
    expect(final.status).toBe('cancelled');
    expect(host.running.get('a')).toBe('/old/a');
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
    host.switchTo = async (m, system, action) => {
      await switchTo(m, system, action);
      if (m.name === 'a') {
        controller.abort(new RunCancelled('cancelled by bob'));
        release();
      }
    };
    const final = await run.run(controller.signal);
    expect(final.status).toBe('cancelled');
    expect(host.running.get('a')).toBe('/new/a');
    expect(host.running.get('b')).toBeUndefined();
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
    const run = new DeployRun(state, {
      host,
      build: async (names) => {
        builds += 1;
        if (builds === 1)
          throw BuildError.ofMachines(new Map([['b', "builder for 'x.drv' failed"]]), ['a', 'c']);
        return new Map(names.map((name) => [name, `/new/${name}`]));
      },
      healthIntervalMs: 1,
      haltForMs: 60_000,
    }).on((event) => events.push(event));
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
    const run = new DeployRun(state, {
      host,
      build: async (names) => new Map(names.map((name) => [name, `/new/${name}`])),
      healthIntervalMs: 1,
      haltForMs: 60_000,
    }).on((event) => events.push(event));
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
    const { run, state } = setup([machine('a')]);
    await run.run();
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });
});
