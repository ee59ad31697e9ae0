import { describe, expect, it } from 'vitest';
import type { DeployHost } from '../../src/domain/deploy/deploy-host.js';
import type { MachineHealth } from '../../src/domain/health/check-result.js';
import type { HostFacts } from '../../src/domain/hosts/host-facts.js';
import type { Machine } from '../../src/domain/inventory/schema.js';
import { deploySteps } from '../../src/domain/planner/deploy-steps.js';
import { planSequence } from '../../src/domain/planner/plan.js';
import { createDeployRun, DeployRun } from '../../src/orchestration/deploy-run.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';
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

  it('keeps the state JSON-serialisable', async () => {
    const { run, state } = setup([machine('a')]);
    await run.run();
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });
});
