import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/orchestration/run-events.js';
import type { Homelab } from '../sim/homelab.js';
import { flakeToplevel, repoRoot } from '../support/flake-fixtures.js';
import { http, standardMachines, startTestHomelab } from '../support/homelabs.js';
import { systemsOf } from '../support/on-machine.js';
import { runLab, runLabOn } from '../support/run-cli.js';
import { eventsOf, parseEvents } from '../support/run-events.js';

let lab: Homelab;

beforeAll(async () => {
  const cache = {
    role: 'cache',
    rebootOrder: 2,
    serves: [http(6379)],
    orchestration: { deployStrategy: 'recreate' },
  };
  lab = await startTestHomelab({
    nas: {
      ...standardMachines.nas,
      orchestration: { deployStrategy: 'rolling' },
      // systemd is not PID 1 there: lab activates it detached, not with systemd-run.
      systemd: false,
    },
    db: { ...standardMachines.db, orchestration: { deployStrategy: 'blue-green' } },
    cache1: cache,
    cache2: cache,
    web: { ...standardMachines.web, orchestration: { deployStrategy: 'rolling' } },
  });
});

afterAll(async () => {
  await lab?.stop();
});

const deploy = (...args: string[]) => runLabOn(lab, 'deploy', ['--yes', '--health-timeout', '10', ...args]);

const built = (events: RunEvent[]) => eventsOf(events, 'deploy.built')[0]?.systems ?? {};

/** The store paths of the machines' systems as the flake has them now. */
function evalSystems(names: readonly string[]): Promise<string[]> {
  return Promise.all(names.map((name) => flakeToplevel(lab.flake, name)));
}

describe('lab deploy on the simulated homelab', () => {
  it('--dry-run --eval-only shows what would change and touches nothing', async () => {
    const before = await systemsOf(lab, 'web');
    const result = await deploy('--all', '--dry-run', '--eval-only', '--json');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const plan = JSON.parse(result.stdout);
    expect(
      plan.steps.map((step: { strategy: string; machines: { name: string }[] }) => [
        step.strategy,
        step.machines.map((m) => m.name),
      ]),
    ).toEqual([
      ['rolling', ['nas']],
      ['recreate', ['cache1', 'cache2']],
      ['blue-green', ['db']],
      ['rolling', ['web']],
    ]);
    const web = plan.steps[3].machines[0];
    expect(web).toMatchObject({ name: 'web', current: before.current, changes: true, reachable: true });
    // The homelab's own first systems link other kernel files than the flake's systems do.
    expect(web).toMatchObject({ needsReboot: true, bootChanges: ['kernel', 'initrd', 'kernel-modules'] });
    expect(web.system).toMatch(/^\/nix\/store\/[a-z0-9]{32}-nixos-system-web-1$/);
    expect(plan.toBuild.length).toBeGreaterThan(0);
    expect(await systemsOf(lab, 'web')).toEqual(before);
    // The seed's `lab deploy-all` is `lab deploy --all`.
    const seed = await runLab(
      [
        'deploy-all',
        '--flake',
        lab.flake,
        '--nix-option',
        'substituters=',
        '--dry-run',
        '--eval-only',
        '--json',
      ],
      lab.env,
    );
    expect(seed.stderr).toBe('');
    expect(JSON.parse(seed.stdout)).toEqual(plan);
  });

  it('rolls machines out one at a time in sequence order, each healthy on its new system', async () => {
    const result = await deploy('nas', 'web', '--json');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const events = parseEvents(result.stdout);
    const order = events
      .filter((event) => ['machine.copying', 'machine.activating', 'machine.succeeded'].includes(event.type))
      .map((event) => `${event.type} ${'machine' in event ? event.machine : ''}`);
    expect(order).toEqual([
      'machine.copying nas',
      'machine.activating nas',
      'machine.succeeded nas',
      'machine.copying web',
      'machine.activating web',
      'machine.succeeded web',
    ]);
    const systems = built(events);
    for (const name of ['nas', 'web']) {
      expect(systems[name]).toMatch(new RegExp(`^/nix/store/[a-z0-9]{32}-nixos-system-${name}-\\d+$`));
      expect(await systemsOf(lab, name)).toEqual({ current: systems[name], profile: systems[name] });
      expect(lab.bootMenu(name)).toMatchObject({ defaultGeneration: 2, defaultSystem: systems[name] });
    }
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    // web has systemd as PID 1: its activation ran as a transient unit; nas has not: detached.
    expect(lab.units('web').map((unit) => [unit.event, unit.unit, unit.status])).toEqual([
      ['start', expect.stringMatching(/^lab-activation-[\w-]+\.service$/), null],
      ['exit', expect.stringMatching(/^lab-activation-[\w-]+\.service$/), 0],
    ]);
    expect(lab.units('nas')).toEqual([]);
  });

  it('blue-green: a new configuration that fails health is reverted; the machine runs its old system, healthy', async () => {
    const before = await systemsOf(lab, 'db');
    await lab.configure('db', { services: [{ type: 'tcp', port: 5433 }] }); // listens on the wrong port
    const result = await deploy('db', '--json');
    expect(result.exitCode).toBe(1);
    const events = parseEvents(result.stdout);
    expect(eventsOf(events, 'machine.activating').map((event) => event.action)).toEqual(['test']);
    expect(eventsOf(events, 'machine.failed')).toEqual([
      expect.objectContaining({
        machine: 'db',
        phase: 'health',
        reason: expect.stringContaining('tcp 5432'),
      }),
    ]);
    expect(eventsOf(events, 'machine.rolled-back')).toEqual([
      expect.objectContaining({ machine: 'db', ok: true, reason: null }),
    ]);
    expect(events.at(-1)).toMatchObject({ status: 'failed', failure: { machine: 'db', phase: 'health' } });
    expect(await systemsOf(lab, 'db')).toEqual(before);
    const health = await runLab(
      ['health', 'db', '--flake', lab.flake, '--nix-option', 'substituters='],
      lab.env,
    );
    expect(health.exitCode).toBe(0);
  });

  it('blue-green: the tested system becomes the boot default with `boot`, activated only once', async () => {
    await lab.configure('db', {
      services: [
        { type: 'tcp', port: 5432 },
        { type: 'tcp', port: 5433 },
      ],
    });
    const since = Date.now();
    const result = await deploy('db', '--json');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const events = parseEvents(result.stdout);
    const system = built(events).db as string;
    expect(eventsOf(events, 'machine.activating').map((event) => event.action)).toEqual(['test', 'boot']);
    expect(
      lab
        .activations('db')
        .filter((record) => record.at >= since)
        .map((record) => `${record.event} ${record.action} ${record.system}`),
    ).toEqual([`start test ${system}`, `done test ${system}`, `start boot ${system}`, `done boot ${system}`]);
    expect(await systemsOf(lab, 'db')).toEqual({ current: system, profile: system });
    expect(lab.bootMenu('db').defaultSystem).toBe(system);
  });

  it('rolling: a failing configuration is rolled back, profile and running system', async () => {
    const before = await systemsOf(lab, 'web');
    await lab.configure('web', { services: [{ type: 'http', port: 81 }] });
    const result = await deploy('web', '--json');
    expect(result.exitCode).toBe(1);
    const events = parseEvents(result.stdout);
    expect(eventsOf(events, 'machine.rolled-back')).toEqual([
      expect.objectContaining({ machine: 'web', ok: true }),
    ]);
    expect(await systemsOf(lab, 'web')).toEqual(before);
  });

  it('Ctrl-C during an activation sees that machine deployed and healthy, and touches nothing after it', async () => {
    const before = { nas: await systemsOf(lab, 'nas'), web: await systemsOf(lab, 'web') };
    await lab.configure('nas', {
      services: [
        { type: 'tcp', port: 2049 },
        { type: 'tcp', port: 111 },
      ],
    });
    await lab.configure('web', {
      services: [
        { type: 'http', port: 80 },
        { type: 'tcp', port: 8443 },
      ],
    });
    // Its services answer only a while after the activation: its health is still failing when
    // the Ctrl-C comes, and must be waited for.
    lab.machine('nas').setDelays({ activationMs: 2_000, servicesMs: 1_500 });
    try {
      const child = execa(
        'node',
        [
          join(repoRoot, 'dist/cli/main.js'),
          'deploy',
          'nas',
          'web',
          '--flake',
          lab.flake,
          '--nix-option',
          'substituters=',
          '--yes',
          '--health-timeout',
          '10',
          '--json',
        ],
        { env: lab.env, reject: false },
      );
      let interrupted = false;
      child.stdout?.on('data', (chunk: Buffer) => {
        if (!interrupted && /"type":"machine.activating","machine":"nas"/.test(chunk.toString())) {
          interrupted = true;
          child.kill('SIGINT');
        }
      });
      const result = await child;
      expect(interrupted).toBe(true);
      expect(result.exitCode).toBe(130);
      const events = parseEvents(result.stdout);
      expect(events.at(-1)).toMatchObject({
        type: 'run.finished',
        status: 'cancelled',
        failure: null,
        pending: ['web'],
        outcomes: [
          { machine: 'nas', outcome: 'deployed' },
          { machine: 'web', outcome: 'not touched' },
        ],
      });
      expect(eventsOf(events, 'run.cancelling')).toEqual([
        expect.objectContaining({ reason: 'Ctrl-C at the terminal', finishing: ['nas'] }),
      ]);
      // nas runs and boots its new system, whose activation got to its end; web is as it was.
      const system = built(events).nas as string;
      expect(await systemsOf(lab, 'nas')).toEqual({ current: system, profile: system });
      expect(lab.activations('nas').filter((record) => record.system === system)).toEqual([
        expect.objectContaining({ event: 'start', action: 'switch' }),
        expect.objectContaining({ event: 'done', action: 'switch' }),
      ]);
      expect(eventsOf(events, 'machine.copying').map((event) => event.machine)).toEqual(['nas']);
      expect(await systemsOf(lab, 'web')).toEqual(before.web);
      expect(before.nas.current).not.toBe(system);
    } finally {
      lab.machine('nas').setDelays({ activationMs: 0, servicesMs: 0 });
    }
  });

  it('two failed deploys in a row: each goes back to the system that ran before, the failed generation removed', async () => {
    const before = await systemsOf(lab, 'web');
    const profile = lab.profile('web');
    const menu = lab.bootMenu('web');
    expect(menu.defaultSystem).toBe(before.current);
    for (const port of [82, 83]) {
      await lab.configure('web', { services: [{ type: 'http', port }] });
      const result = await deploy('web', '--json', '--health-timeout', '3');
      expect(result.exitCode).toBe(1);
      // Read on the machine: it runs what it ran, its profile is on the same generation (the
      // failed one deleted) and it boots what it booted, the failed system not in its boot menu.
      expect(await systemsOf(lab, 'web')).toEqual(before);
      expect(lab.profile('web')).toEqual(profile);
      expect(lab.bootMenu('web')).toEqual(menu);
      const events = parseEvents(result.stdout);
      expect(eventsOf(events, 'machine.rolling-back')).toEqual([
        expect.objectContaining({ machine: 'web', to: before.current, generation: profile.current }),
      ]);
      expect(eventsOf(events, 'machine.rolled-back')).toEqual([
        expect.objectContaining({
          machine: 'web',
          ok: true,
          reason: null,
          verified: {
            system: before.current,
            current: before.current,
            profile: before.profile,
            generation: profile.current,
            bootDefault: before.current,
            bootLoader: 'systemd-boot',
            bootUnknown: null,
            healthy: true,
          },
        }),
      ]);
    }
    await lab.configure('web', { services: [{ type: 'http', port: 80 }] });
  });

  it('an activation under systemd-run survives its SSH session dropping: it completes once, the deploy succeeds', async () => {
    await lab.configure('web', {
      services: [
        { type: 'http', port: 80 },
        { type: 'tcp', port: 8080 },
      ],
    });
    const web = lab.machine('web');
    web.setDelays({ activationMs: 3000 });
    const since = Date.now();
    try {
      const running = deploy('web', '--json');
      await expect
        .poll(() => lab.activations('web').some((record) => record.event === 'start' && record.at >= since), {
          timeout: 60_000,
          interval: 20,
        })
        .toBe(true);
      // Every session of the machine is dropped mid-activation (its scope stopped with it).
      expect(web.dropSessions()).toBeGreaterThan(0);
      const droppedAt = Date.now();
      const result = await running;
      expect(result.stderr).toBe('');
      expect(result.exitCode).toBe(0);
      const system = built(parseEvents(result.stdout)).web as string;
      expect(
        lab
          .activations('web')
          .filter((record) => record.at >= since)
          .map((record) => `${record.event} ${record.action} ${record.system}`),
      ).toEqual([`start switch ${system}`, `done switch ${system}`]);
      // It got to its end after its session was gone (it was dropped mid-way).
      expect(lab.activations('web').at(-1)?.at).toBeGreaterThan(droppedAt);
      const units = lab.units('web').filter((unit) => unit.at >= since);
      expect(units.map((unit) => [unit.event, unit.status])).toEqual([
        ['start', null],
        ['exit', 0],
      ]);
      expect(await systemsOf(lab, 'web')).toEqual({ current: system, profile: system });
    } finally {
      web.setDelays({ activationMs: 0 });
    }
  });

  it("recreate: the stage's recreate machines switch together and are checked together", async () => {
    const result = await deploy('cache1', 'cache2', '--json');
    expect(result.exitCode).toBe(0);
    const events = parseEvents(result.stdout);
    expect(eventsOf(events, 'step.started').map((event) => event.machines)).toEqual([['cache1', 'cache2']]);
    const activated = events.findIndex(
      (event) => event.type === 'machine.activating' && event.machine === 'cache2',
    );
    const firstSucceeded = events.findIndex((event) => event.type === 'machine.succeeded');
    expect(
      events.findIndex((event) => event.type === 'machine.activating' && event.machine === 'cache1'),
    ).toBeLessThan(firstSucceeded);
    expect(activated).toBeLessThan(firstSucceeded);
    const systems = built(events);
    expect((await systemsOf(lab, 'cache1')).current).toBe(systems.cache1);
    expect((await systemsOf(lab, 'cache2')).current).toBe(systems.cache2);
  });

  it('a build failure of one of three machines names it, builds the others, and touches no machine', async () => {
    const names = ['nas', 'db', 'web'];
    const before = await Promise.all(names.map((name) => systemsOf(lab, name)));
    await lab.configure('nas', { services: [{ type: 'tcp', port: 2050 }] });
    await lab.configure('db', { services: [{ type: 'tcp', port: 5433 }] });
    await lab.configure('web', { buildFails: true });
    try {
      const result = await deploy(...names, '--json');
      expect(result.exitCode).toBe(1);
      const events = parseEvents(result.stdout);
      expect(eventsOf(events, 'machine.copying')).toEqual([]);
      expect(eventsOf(events, 'machine.failed')).toEqual([
        expect.objectContaining({
          machine: 'web',
          phase: 'build',
          reason: expect.stringContaining('the configuration of web does not build'),
        }),
      ]);
      const finished = events.at(-1);
      expect(finished).toMatchObject({
        type: 'run.finished',
        status: 'failed',
        failure: { machine: null, machines: ['web'], phase: 'build' },
        pending: ['nas', 'db', 'web'],
        outcomes: [
          { machine: 'nas', outcome: 'not touched' },
          { machine: 'db', outcome: 'not touched' },
          { machine: 'web', outcome: 'not built' },
        ],
      });
      const reason = finished?.type === 'run.finished' ? (finished.failure?.reason ?? '') : '';
      expect(reason).toMatch(
        /^build failed, no machine was touched: the system of web did not build: builder for '\/nix\/store\/[a-z0-9]{32}-nixos-system-web-\d+\.drv' failed .*the configuration of web does not build; built fine: nas, db$/,
      );
      // With --keep-going, nas's and db's new systems were built all the same.
      const systems = await evalSystems(['nas', 'db']);
      for (const system of systems) expect(existsSync(system)).toBe(true);
      expect(await Promise.all(names.map((name) => systemsOf(lab, name)))).toEqual(before);

      // On the terminal: the machine and the build, never "null".
      const text = await deploy(...names);
      expect(text.exitCode).toBe(1);
      expect(text.stdout).not.toMatch(/null/);
      expect(text.stdout).toMatch(
        / {2}web +FAILED at build: builder for .*the configuration of web does not build/,
      );
      expect(text.stdout).toMatch(
        / {2}run +failed at the build \(web\): build failed, no machine was touched: the system of web did not build: .*; built fine: nas, db; not touched: nas, db\n$/,
      );
    } finally {
      await lab.configure('web', { buildFails: false, services: [{ type: 'http', port: 80 }] });
      await lab.configure('db', { services: [{ type: 'tcp', port: 5432 }] });
      await lab.configure('nas', { services: [{ type: 'tcp', port: 2049 }] });
    }
  });

  it('reports machines that need a reboot, and --reboot-if-needed reboots exactly those', async () => {
    // Boot web into a deployed system first: before its first deploy it ran the homelab's own.
    expect((await deploy('web')).exitCode).toBe(0);
    const reboot = await runLab(
      [
        'reboot',
        'web',
        '--yes',
        '--reboot-timeout',
        '20',
        '--flake',
        lab.flake,
        '--nix-option',
        'substituters=',
      ],
      lab.env,
    );
    expect(reboot.exitCode).toBe(0);
    await lab.configure('nas', { kernel: '2' });
    await lab.configure('web', {
      services: [
        { type: 'http', port: 80 },
        { type: 'tcp', port: 443 },
      ],
    });
    const bootsBefore = { nas: lab.bootLog('nas').length, web: lab.bootLog('web').length };
    const result = await deploy('nas', 'web', '--reboot-if-needed', '--reboot-timeout', '20', '--json');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const events = parseEvents(result.stdout);
    expect(eventsOf(events, 'machine.needs-reboot')).toEqual([
      expect.objectContaining({ machine: 'nas', changed: ['kernel', 'initrd', 'kernel-modules'] }),
    ]);
    expect(eventsOf(events, 'run.started').map((event) => event.kind)).toEqual(['deploy', 'reboot']);
    expect(eventsOf(events, 'machine.up').map((event) => event.machine)).toEqual(['nas']);
    expect(lab.bootLog('nas')).toHaveLength(bootsBefore.nas + 1);
    expect(lab.bootLog('web')).toHaveLength(bootsBefore.web);
    const nas = await systemsOf(lab, 'nas');
    expect(nas.current).toBe(nas.profile);
  });

  it('--dry-run --eval-only names the machines whose new kernel, initrd or modules would need a reboot, building nothing', async () => {
    // nas booted the system of its configuration (kernel 2); web's new one changes its kernel.
    await lab.configure('web', { kernel: '2' });
    const result = await deploy('nas', 'web', '--dry-run', '--eval-only', '--json');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const plan = JSON.parse(result.stdout);
    const machines = plan.steps.flatMap((step: { machines: { name: string }[] }) => step.machines);
    expect(machines).toEqual([
      expect.objectContaining({ name: 'nas', changes: false, needsReboot: false, bootChanges: [] }),
      expect.objectContaining({
        name: 'web',
        changes: true,
        needsReboot: true,
        bootChanges: ['kernel', 'initrd', 'kernel-modules'],
      }),
    ]);
    expect(plan.needsReboot).toEqual(['web']);
    expect(existsSync(machines[1].system)).toBe(false); // evaluated, not built
    const text = await deploy('nas', 'web', '--dry-run', '--eval-only');
    expect(text.stdout).toContain(
      'Would need a reboot after the deploy: web (kernel, initrd or modules differ from what they booted).',
    );
    await lab.configure('web', { kernel: '1' });
  });

  it('--build-on-target builds the system on the machine, not here', async () => {
    await lab.configure('cache1', {
      services: [
        { type: 'http', port: 6379 },
        { type: 'tcp', port: 11211 },
      ],
    });
    const result = await deploy('cache1', '--build-on-target', '--json');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const system = built(parseEvents(result.stdout)).cache1 as string;
    expect(system).toMatch(/-nixos-system-cache1-\d+$/);
    expect((await systemsOf(lab, 'cache1')).current).toBe(system);
    expect(existsSync(system)).toBe(false); // never built in this machine's store
  });
});
