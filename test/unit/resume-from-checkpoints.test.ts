import { describe, expect, it } from 'vitest';
import type { DeployHost } from '../../src/domain/deploy/deploy-host.js';
import { deploySteps } from '../../src/domain/planner/deploy-steps.js';
import { planSequence } from '../../src/domain/planner/plan.js';
import type { RebootHost } from '../../src/domain/reboot/reboot-host.js';
import { deployEngine } from '../../src/orchestration/procedures/deploy.js';
import { rebootEngine } from '../../src/orchestration/procedures/reboot.js';
import {
  createDeployRun,
  createRebootRun,
  type DeployRunState,
  type RebootRunState,
} from '../../src/orchestration/run-state.js';
import { approveAll, FakeHost, stateful } from '../support/fake-host.js';
import { inventoryOf, machine } from '../support/machines.js';
import { NixosMachines } from '../support/nixos-machines.js';

/**
 * A worker may die anywhere. Here it dies at every checkpoint of a run in turn, either just after
 * the checkpoint was saved or just before (everything since the one before was done, but not
 * saved). Another engine then resumes from the last saved state against the same machines, and
 * must finish the run with every machine rebooted (or activated) exactly once.
 */

/** The worker dies: its checkpoint never returns, so the engine does nothing more. */
const never = () => new Promise<never>(() => {});

/**
 * Runs the engine until it dies at checkpoint `n`; returns the state last saved. Once dead,
 * nothing more happens: no checkpoint returns, and no call to the machines does (the engine
 * gets a host that stops with it).
 */
async function runUntilDeath<S, H extends object>(
  initial: S,
  host: H,
  n: number,
  when: 'after saving' | 'before saving',
  start: (state: S, host: H, checkpoint: (state: S) => Promise<void>) => Promise<unknown>,
): Promise<{ saved: S; died: boolean }> {
  let saved = structuredClone(initial);
  let count = 0;
  let died = false;
  let dead: () => void = () => {};
  const death = new Promise<void>((resolve) => {
    dead = resolve;
  });
  const checkpoint = async (state: S) => {
    if (died) return never();
    count += 1;
    if (count === n) {
      if (when === 'after saving') saved = structuredClone(state);
      died = true;
      dead();
      return never();
    }
    saved = structuredClone(state);
  };
  const mortal = new Proxy(host, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => (died ? never() : value.apply(target, args));
    },
  });
  await Promise.race([start(structuredClone(initial), mortal, checkpoint), death]);
  return { saved, died };
}

describe('a reboot run resumed from any checkpoint', () => {
  const inventory = inventoryOf([
    machine('nas', { rebootDelay: 0 }),
    machine('db', { rebootOrder: 2, dependencies: ['nas'], rebootDelay: 0 }),
    machine('web', { rebootOrder: 3, dependencies: ['db'], rebootDelay: 0 }),
    machine('web2', { rebootOrder: 3, dependencies: ['db'], rebootDelay: 0 }),
  ]);
  // web and web2 reboot together: their checkpoints interleave.
  const initial = createRebootRun(planSequence(inventory, { parallel: 2 }), {
    flake: 'test',
    id: 'run-1',
    settings: { healthTimeout: 0 },
  });
  const engine = (
    state: RebootRunState,
    host: RebootHost,
    checkpoint: (s: RebootRunState) => Promise<void>,
  ) => stateful(rebootEngine(state, { host, checkpoint, approval: approveAll() }));

  it('reboots every machine exactly once, wherever the worker died', async () => {
    const total = await countCheckpoints((checkpoint) =>
      engine(structuredClone(initial), new FakeHost({ slowShutdown: true }), checkpoint).run(),
    );
    expect(total).toBeGreaterThan(10);
    for (let n = 1; n <= total; n += 1) {
      for (const when of ['after saving', 'before saving'] as const) {
        const machines = new FakeHost({ slowShutdown: true });
        const { saved, died } = await runUntilDeath(initial, machines, n, when, (state, host, checkpoint) =>
          engine(state, host, checkpoint).run(),
        );
        expect(died).toBe(true);
        const final = await engine(saved, machines, async () => {}).run();
        const at = `died ${when} checkpoint ${n} of ${total}`;
        expect(final.status, at).toBe('succeeded');
        expect(Object.fromEntries(machines.commands), at).toEqual({ nas: 1, db: 1, web: 1, web2: 1 });
        expect(Object.fromEntries(machines.boots), at).toEqual({ nas: 1, db: 1, web: 1, web2: 1 });
      }
    }
  });
});

describe('a deploy run resumed from any checkpoint', () => {
  const machines = [
    machine('a', { deployStrategy: 'rolling' }),
    machine('b', { rebootOrder: 2, deployStrategy: 'blue-green' }),
    machine('c', { rebootOrder: 3, deployStrategy: 'recreate' }),
    machine('d', { rebootOrder: 3, deployStrategy: 'recreate' }),
  ];
  const initial = createDeployRun(deploySteps(planSequence(inventoryOf(machines))), {
    flake: 'test',
    id: 'run-2',
    settings: { healthTimeout: 0 },
  });
  const engine = (
    state: DeployRunState,
    host: DeployHost,
    checkpoint: (s: DeployRunState) => Promise<void>,
  ) =>
    stateful(
      deployEngine(state, {
        host,
        checkpoint,
        build: async (names) => new Map(names.map((name) => [name, `/new/${name}`])),
        healthIntervalMs: 1,
      }),
    );

  it('activates every new system exactly once, wherever the worker died', async () => {
    const total = await countCheckpoints((checkpoint) =>
      engine(structuredClone(initial), new NixosMachines(), checkpoint).run(),
    );
    expect(total).toBeGreaterThan(10);
    for (let n = 1; n <= total; n += 1) {
      for (const when of ['after saving', 'before saving'] as const) {
        const host = new NixosMachines();
        const { saved, died } = await runUntilDeath(initial, host, n, when, (state, mortal, checkpoint) =>
          engine(state, mortal, checkpoint).run(),
        );
        expect(died).toBe(true);
        const final = await engine(saved, host, async () => {}).run();
        const at = `died ${when} checkpoint ${n} of ${total}`;
        expect(final.status, at).toBe('succeeded');
        // Blue-green b: `test`, then `boot` (the boot default), never a second activation.
        expect([...host.activations].sort(), at).toEqual([
          'a switch /new/a',
          'b boot /new/b',
          'b test /new/b',
          'c switch /new/c',
          'd switch /new/d',
        ]);
        for (const name of ['a', 'b', 'c', 'd']) {
          expect(await host.systems(machine(name)), at).toMatchObject({
            current: `/new/${name}`,
            profile: `/new/${name}`,
            generation: 2,
            bootDefault: { system: `/new/${name}` },
          });
        }
      }
    }
  });
});

describe('a failed deploy resumed from any checkpoint', () => {
  const initial = createDeployRun(deploySteps(planSequence(inventoryOf([machine('a')]))), {
    flake: 'test',
    id: 'run-3',
    settings: { healthTimeout: 0 },
  });
  const engine = (
    state: DeployRunState,
    host: DeployHost,
    checkpoint: (s: DeployRunState) => Promise<void>,
  ) =>
    stateful(
      deployEngine(state, {
        host,
        checkpoint,
        build: async (names) => new Map(names.map((name) => [name, `/new/${name}`])),
        healthIntervalMs: 1,
      }),
    );
  const failing = () => {
    const host = new NixosMachines();
    host.unhealthy.add('/new/a');
    return host;
  };

  it('rolls the machine back exactly once to what ran before, wherever the worker died', async () => {
    let total = 0;
    const uninterrupted = await engine(structuredClone(initial), failing(), async () => {
      total += 1;
    }).run();
    expect(uninterrupted.status).toBe('failed');
    expect(total).toBeGreaterThan(8);
    for (let n = 1; n <= total; n += 1) {
      for (const when of ['after saving', 'before saving'] as const) {
        const host = failing();
        const { saved, died } = await runUntilDeath(initial, host, n, when, (state, mortal, checkpoint) =>
          engine(state, mortal, checkpoint).run(),
        );
        expect(died).toBe(true);
        const final = await engine(saved, host, async () => {}).run();
        const at = `died ${when} checkpoint ${n} of ${total}`;
        expect(final.status, at).toBe('failed');
        expect(host.activations, at).toEqual(['a switch /new/a', 'a switch /old/a']);
        expect(host.state('a'), at).toEqual({
          running: '/old/a',
          generations: new Map([[1, '/old/a']]),
          current: 1,
          bootDefault: '/old/a',
        });
        expect(final.progress.a?.rollback, at).toMatchObject({ ok: true, reason: null });
        expect(final.progress.a?.rollbackSteps ?? null, at).toBeNull();
      }
    }
  });
});

/** How many checkpoints an uninterrupted run makes. */
async function countCheckpoints(run: (checkpoint: () => Promise<void>) => Promise<{ status: string }>) {
  let count = 0;
  const final = await run(async () => {
    count += 1;
  });
  expect(final.status).toBe('succeeded');
  return count;
}
