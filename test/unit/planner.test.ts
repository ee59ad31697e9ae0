import { describe, expect, it } from 'vitest';
import { BrokenHostsError } from '../../src/domain/planner/errors.js';
import { planSequence, selectForPlan } from '../../src/domain/planner/plan.js';
import { ConfigurationErrors, UnknownTargetError, UsageError } from '../../src/errors.js';
import { inventoryOf, machine } from '../support/machines.js';

const names = (plan: ReturnType<typeof planSequence>) =>
  plan.steps.map((step) => step.machines.map((m) => m.name));

describe('planSequence order', () => {
  it('orders stages by ascending rebootOrder, and never mixes them', () => {
    const plan = planSequence(
      inventoryOf([
        machine('c', { rebootOrder: 3 }),
        machine('a', { rebootOrder: 10 }),
        machine('b', { rebootOrder: -1 }),
        machine('d', { rebootOrder: 3 }),
      ]),
      { parallel: 5 },
    );
    expect(names(plan)).toEqual([['b'], ['c', 'd'], ['a']]);
    expect(plan.steps.map((step) => step.rebootOrder)).toEqual([-1, 3, 10]);
  });

  it('puts dependencies first inside a stage, then orders by name', () => {
    const plan = planSequence(
      inventoryOf([
        machine('alpha', { dependencies: ['zulu'] }),
        machine('zulu', { dependencies: ['mike'] }),
        machine('mike'),
        machine('bravo'),
      ]),
    );
    expect(names(plan)).toEqual([['bravo'], ['mike'], ['zulu'], ['alpha']]);
  });

  it('treats a dependency on an earlier stage as satisfied', () => {
    const plan = planSequence(
      inventoryOf([
        machine('web', { rebootOrder: 2, dependencies: ['db'] }),
        machine('db', { rebootOrder: 1 }),
      ]),
    );
    expect(names(plan)).toEqual([['db'], ['web']]);
  });

  it('with parallel N, groups up to N ready machines of a stage by name', () => {
    const inventory = inventoryOf([
      machine('a'),
      machine('b'),
      machine('c'),
      machine('d', { dependencies: ['a'] }),
      machine('e', { rebootOrder: 2 }),
    ]);
    expect(names(planSequence(inventory, { parallel: 2 }))).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(names(planSequence(inventory, { parallel: 10 }))).toEqual([['a', 'b', 'c'], ['d'], ['e']]);
  });

  it('never puts a machine in the same step as its dependency', () => {
    const inventory = inventoryOf([machine('a'), machine('b', { dependencies: ['a'] })]);
    expect(names(planSequence(inventory, { parallel: 2 }))).toEqual([['a'], ['b']]);
  });

  it('rejects a parallel value below 1', () => {
    expect(() => planSequence(inventoryOf([machine('a')]), { parallel: 0 })).toThrow(UsageError);
  });

  it('plans an empty inventory as no steps', () => {
    expect(planSequence(inventoryOf([])).steps).toEqual([]);
  });
});

describe('planSequence targets', () => {
  const inventory = inventoryOf([
    machine('nas', { groups: ['storage'] }),
    machine('backup', { groups: ['storage'], dependencies: ['nas'] }),
    machine('web', { rebootOrder: 2, groups: ['frontend'], dependencies: ['db'] }),
    machine('db', { rebootOrder: 1, groups: ['data'] }),
  ]);

  it('selects machines and @groups while keeping the planned order', () => {
    expect(names(planSequence(inventory, { targets: ['web', '@storage'] }))).toEqual([
      ['nas'],
      ['backup'],
      ['web'],
    ]);
  });

  it('selects everything with all', () => {
    expect(planSequence(inventory, { targets: ['all'] }).steps).toHaveLength(4);
  });

  it('warns about dependencies outside the selection', () => {
    const plan = planSequence(inventory, { targets: ['web'] });
    expect(plan.warnings).toContain('web depends on db, which is not in this selection');
  });

  it('warns about machines without health checks', () => {
    expect(planSequence(inventory, { targets: ['db'] }).warnings).toEqual([
      'db has no health checks: after a reboot lab can only wait for SSH',
    ]);
  });

  it('refuses an unknown machine, naming it and the known ones', () => {
    expect(() => planSequence(inventory, { targets: ['dbx'] })).toThrow(
      "unknown machine 'dbx' (machines: nas, backup, web, db; groups are written @group)",
    );
    expect(() => planSequence(inventory, { targets: ['dbx'] })).toThrow(UnknownTargetError);
  });

  it('refuses an empty group, listing the known groups', () => {
    expect(() => planSequence(inventory, { targets: ['@gpu'] })).toThrow(
      "no machine is in group 'gpu' (known groups: @data, @frontend, @storage)",
    );
  });

  it('explains why an unmanaged or broken host cannot be targeted', () => {
    const withHosts = inventoryOf(inventory.machines as never, {
      unmanaged: [{ name: 'printer' }],
      broken: [{ name: 'lab1', error: 'lab.machine.role: is required but not set' }],
    });
    expect(() => planSequence(withHosts, { targets: ['printer'] })).toThrow(/does not use the lab module/);
    expect(() => planSequence(withHosts, { targets: ['lab1'] })).toThrow(
      "'lab1' could not be read: lab.machine.role: is required but not set",
    );
  });
});

describe('planSequence configuration errors', () => {
  const problemsOf = (run: () => unknown): readonly string[] => {
    try {
      run();
    } catch (error) {
      if (error instanceof ConfigurationErrors) return error.problems;
      throw error;
    }
    throw new Error('expected a configuration error');
  };

  it('names both machines when a machine depends on a later stage', () => {
    const problems = problemsOf(() =>
      planSequence(
        inventoryOf([machine('web', { dependencies: ['db'] }), machine('db', { rebootOrder: 2 })]),
      ),
    );
    expect(problems).toEqual([
      'web (rebootOrder 1) depends on db (rebootOrder 2), which reboots later: give db a rebootOrder of at most 1 or drop the dependency',
    ]);
  });

  it('names the machines of a cycle in order', () => {
    const problems = problemsOf(() =>
      planSequence(
        inventoryOf([
          machine('c', { dependencies: ['a'] }),
          machine('a', { dependencies: ['b'] }),
          machine('b', { dependencies: ['c'] }),
          machine('x', { dependencies: ['y'] }),
          machine('y', { dependencies: ['x'] }),
          machine('free'),
        ]),
      ),
    );
    expect(problems).toEqual([
      'dependency cycle: a → b → c → a (each depends on the next; lab.machine.dependencies)',
      'dependency cycle: x → y → x (each depends on the next; lab.machine.dependencies)',
    ]);
  });

  it('reports a machine that depends on itself', () => {
    expect(
      problemsOf(() => planSequence(inventoryOf([machine('solo', { dependencies: ['solo'] })]))),
    ).toEqual(["solo depends on itself (lab.machine.dependencies): remove 'solo'"]);
  });

  it('distinguishes unknown, unmanaged and broken dependencies', () => {
    const problems = problemsOf(() =>
      planSequence(
        inventoryOf([machine('web', { dependencies: ['ghost', 'printer', 'lab1'] })], {
          unmanaged: [{ name: 'printer' }],
          broken: [{ name: 'lab1', error: 'boom' }],
        }),
      ),
    );
    expect(problems).toEqual([
      "web depends on 'ghost' (lab.machine.dependencies), which is not a machine of this flake",
      "web depends on 'printer' (lab.machine.dependencies), which does not use the lab module",
      "web depends on 'lab1' (lab.machine.dependencies), which could not be read",
    ]);
  });

  it('reports every problem at once, with exit code 2', () => {
    const run = () =>
      planSequence(
        inventoryOf([machine('a', { dependencies: ['a', 'nope'] }), machine('b', { dependencies: ['b'] })]),
      );
    expect(problemsOf(run)).toHaveLength(3);
    expect(run).toThrow(expect.objectContaining({ exitCode: 2 }));
  });
});

describe('planSequence at scale', () => {
  it('plans a long dependency chain without recursion limits', () => {
    const chain = Array.from({ length: 5000 }, (_, i) =>
      machine(`m${String(i).padStart(5, '0')}`, {
        dependencies: i === 0 ? [] : [`m${String(i - 1).padStart(5, '0')}`],
      }),
    );
    const plan = planSequence(inventoryOf(chain.reverse()));
    expect(plan.steps).toHaveLength(5000);
    expect(plan.steps[4999]?.machines[0]?.name).toBe('m04999');
  });
});

describe('planSequence with hosts that could not be read', () => {
  const homelab = inventoryOf(
    [machine('nas', { groups: ['storage'] }), machine('web', { groups: ['front'], rebootOrder: 2 })],
    {
      broken: [
        {
          name: 'backup',
          error: 'lab.machine.rebootOrder: must be a number, got "soon"',
          groups: ['storage'],
        },
        { name: 'proxy', error: 'lab.machine.orchestration.rebootdelay: unknown field', groups: ['front'] },
        { name: 'thrower', error: 'evaluation failed: thrower: missing hardware-configuration.nix' },
      ],
    },
  );
  const refusal = (run: () => unknown): BrokenHostsError => {
    try {
      run();
    } catch (error) {
      if (error instanceof BrokenHostsError) return error;
      throw error;
    }
    throw new Error('expected the plan to be refused');
  };

  it('refuses a plan of all, naming each broken host and what is wrong, with exit code 2', () => {
    for (const targets of [[], ['all']]) {
      const error = refusal(() => planSequence(homelab, { targets }));
      expect(error.exitCode).toBe(2);
      expect(error.message).toBe(
        [
          'refusing to plan all machines: 3 hosts could not be read, and the plan would leave them out:',
          '  - backup: lab.machine.rebootOrder: must be a number, got "soon"',
          '  - proxy: lab.machine.orchestration.rebootdelay: unknown field',
          '  - thrower: evaluation failed: thrower: missing hardware-configuration.nix',
          'Fix them, or pass --skip-broken to go on without them.',
        ].join('\n'),
      );
    }
  });

  it('refuses a plan of a group with a broken host in it, or one whose groups could not be read', () => {
    const error = refusal(() => planSequence(homelab, { targets: ['@storage'] }));
    expect(error.hosts.map((host) => host.name)).toEqual(['backup', 'thrower']);
    expect(error.message).toBe(
      [
        'refusing to plan @storage: 2 hosts that could not be read are or may be in @storage, and the plan would leave them out:',
        '  - backup (in @storage): lab.machine.rebootOrder: must be a number, got "soon"',
        '  - thrower (its groups could not be read, so it may be in any): evaluation failed: thrower: missing hardware-configuration.nix',
        'Fix them, or pass --skip-broken to go on without them.',
      ].join('\n'),
    );
    expect(error.withHowToSkip('set LAB_SCHEDULE_SKIP_BROKEN=1').message).toMatch(
      /\nFix them, or set LAB_SCHEDULE_SKIP_BROKEN=1 to go on without them\.$/,
    );
  });

  it('goes on with a group whose broken hosts are known to be elsewhere', () => {
    const known = inventoryOf(homelab.machines as never, { broken: homelab.broken.slice(0, 1) });
    const plan = planSequence(known, { targets: ['@front'] });
    expect(names(plan)).toEqual([['web']]);
    expect(() => planSequence(known, { targets: ['@storage'] })).toThrow(
      /^refusing to plan @storage: a host that could not be read is or may be in @storage, and the plan would leave it out:\n {2}- backup \(in @storage\)/,
    );
  });

  it('goes on with machines named one by one, saying which broken hosts it does not include', () => {
    const plan = planSequence(homelab, { targets: ['nas', 'web'] });
    expect(names(plan)).toEqual([['nas'], ['web']]);
    expect(plan.skipped).toEqual([]);
    expect(plan.warnings).toContain(
      'thrower could not be read and is not in this plan: evaluation failed: thrower: missing hardware-configuration.nix',
    );
  });

  it('with skipBroken, goes on without them and lists them as skipped', () => {
    const all = planSequence(homelab, { skipBroken: true });
    expect(names(all)).toEqual([['nas'], ['web']]);
    expect(all.skipped).toEqual([
      { name: 'backup', reason: 'lab.machine.rebootOrder: must be a number, got "soon"' },
      { name: 'proxy', reason: 'lab.machine.orchestration.rebootdelay: unknown field' },
      { name: 'thrower', reason: 'evaluation failed: thrower: missing hardware-configuration.nix' },
    ]);
    expect(all.warnings.filter((warning) => warning.includes('could not be read'))).toEqual([]);
    const front = planSequence(homelab, { targets: ['@front'], skipBroken: true });
    expect(names(front)).toEqual([['web']]);
    expect(front.skipped.map((host) => host.name)).toEqual(['proxy', 'thrower']);
    expect(front.warnings).toEqual([
      'web has no health checks: after a reboot lab can only wait for SSH',
      'backup could not be read and is not in this plan: lab.machine.rebootOrder: must be a number, got "soon"',
    ]);
  });

  it('selects for a health check the same way', () => {
    expect(() => selectForPlan(homelab, {})).toThrow(BrokenHostsError);
    expect(selectForPlan(homelab, { targets: ['@storage'], skipBroken: true })).toMatchObject({
      machines: [{ name: 'nas' }],
      skipped: [{ name: 'backup' }, { name: 'thrower' }],
    });
  });

  it('reports wrong dependencies first: those are configuration errors with or without skipBroken', () => {
    const leaning = inventoryOf([machine('web', { dependencies: ['thrower'] })], {
      broken: [{ name: 'thrower', error: 'boom' }],
    });
    expect(() => planSequence(leaning, { skipBroken: true })).toThrow(ConfigurationErrors);
    expect(() => planSequence(leaning, { skipBroken: true })).toThrow(
      "web depends on 'thrower' (lab.machine.dependencies), which could not be read",
    );
  });

  it('names the broken hosts that may be in a group no readable machine is in', () => {
    expect(() => planSequence(homelab, { targets: ['@gpu'], skipBroken: true })).toThrow(
      "no machine is in group 'gpu' (known groups: @front, @storage); thrower could not be read, so its groups are unknown",
    );
  });
});
