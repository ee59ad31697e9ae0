import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Machine } from '../../src/domain/inventory/schema.js';
import { planSequence } from '../../src/domain/planner/plan.js';
import { rebootEngine } from '../../src/orchestration/procedures/reboot.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';
import { RunCancelled } from '../../src/orchestration/run-flow.js';
import { createRebootRun, type RebootRunState } from '../../src/orchestration/run-state.js';
import { approveAll, FakeHost, stateful } from '../support/fake-host.js';
import { inventoryOf, machine } from '../support/machines.js';

const lab = inventoryOf([
  machine('nas', { rebootDelay: 0 }),
  machine('db', { rebootOrder: 2, dependencies: ['nas'], rebootDelay: 0, criticalityLevel: 'high' }),
  machine('web', { rebootOrder: 3, dependencies: ['db'], rebootDelay: 0 }),
]);

function setup(settings: Partial<RebootRunState['settings']> = {}) {
  const state = createRebootRun(planSequence(lab), {
    flake: 'test',
    id: 'run-1',
    settings: { healthTimeout: 0, ...settings },
  });
  const host = new FakeHost();
  const events: RunEvent[] = [];
  const checkpoints: string[] = [];
  const confirmed: string[] = [];
  const run = stateful(
    rebootEngine(state, {
      host,
      approval: approveAll(confirmed),
      checkpoint: (s) => {
        checkpoints.push(JSON.stringify(s));
      },
      healthIntervalMs: 1,
    }),
  ).on((event) => events.push(event));
  return { state, host, events, checkpoints, confirmed, run };
}

const summary = (events: RunEvent[]) =>
  events
    .map((e) => ('machine' in e ? `${e.type} ${e.machine}` : e.type))
    .filter((line) => !line.startsWith('step.'));

afterEach(() => {
  vi.useRealTimers();
});

describe('RebootRun', () => {
  it('sends the reboot command only to the boot it names: a boot id read ahead that went stale is read again', async () => {
    const { run, host, events } = setup();
    // db's boot id is read ahead while nas reboots; then db reboots on its own (a power cut).
    run.on((event) => {
      if (event.type === 'machine.down' && event.machine === 'nas') host.rebootsOnItsOwn('db');
    });
    const final = await run.run();
    expect(final.status).toBe('succeeded');
    expect(host.commands.get('db')).toBe(1);
    const rebooting = events.find((e) => e.type === 'machine.rebooting' && e.machine === 'db');
    const up = events.find((e) => e.type === 'machine.up' && e.machine === 'db');
    expect(rebooting).toMatchObject({ bootId: 'boot-db-1' });
    expect(up).toMatchObject({ previousBootId: 'boot-db-1', bootId: 'boot-db-2' });
    expect(final.progress.db?.bootIdBefore).toBe('boot-db-1');
  });

  it('reboots machine after machine in plan order and emits events in order', async () => {
    const { run, host, events, confirmed } = setup();
    const final = await run.run();
    expect(final.status).toBe('succeeded');
    expect(host.log).toEqual(['reboot nas', 'reboot db', 'reboot web']);
    expect(confirmed).toEqual(['db']);
    expect(summary(events)).toEqual([
      'run.started',
      'machine.rebooting nas',
      'machine.down nas',
      'machine.up nas',
      'machine.health nas',
      'machine.succeeded nas',
      'machine.confirmed db',
      'machine.rebooting db',
      'machine.down db',
      'machine.up db',
      'machine.health db',
      'machine.succeeded db',
      'machine.rebooting web',
      'machine.down web',
      'machine.up web',
      'machine.health web',
      'machine.succeeded web',
      'run.finished',
    ]);
    const up = events.find((e) => e.type === 'machine.up' && e.machine === 'nas');
    expect(up).toMatchObject({ bootId: 'boot-nas-1', previousBootId: 'boot-nas-0', runId: 'run-1' });
  });

  it('halts at a health failure: later machines untouched, the failure names machine, phase and check', async () => {
    const { run, host, events } = setup();
    host.unhealthy.add('db');
    const final = await run.run();
    expect(final.status).toBe('failed');
    expect(host.log).toEqual(['reboot nas', 'reboot db']);
    const finished = events.at(-1);
    expect(finished).toMatchObject({
      type: 'run.finished',
      status: 'failed',
      failure: {
        machine: 'db',
        phase: 'health',
        reason: 'health checks still failing after 0 s: tcp 5432 (connection refused)',
      },
      pending: ['web'],
    });
  });

  it('fails a machine that never comes back in the coming back phase', async () => {
    const { run, host, events } = setup();
    host.neverBack.add('nas');
    const final = await run.run();
    expect(final.status).toBe('failed');
    expect(host.log).toEqual(['reboot nas']);
    expect(events.find((e) => e.type === 'machine.failed')).toMatchObject({
      machine: 'nas',
      phase: 'coming back',
      reason: 'nas did not come back within 1 s of the reboot command (SSH never answered again)',
    });
  });

  it('cancels when a confirmation is refused, touching nothing more', async () => {
    const { state, host } = setup();
    const events: RunEvent[] = [];
    const final = await stateful(
      rebootEngine(state, {
        host,
        approval: { request: async () => ({ type: 'denied', reason: 'refused' }) },
      }),
    )
      .on((e) => events.push(e))
      .run();
    expect(final.status).toBe('cancelled');
    expect(host.log).toEqual(['reboot nas']);
    expect(events.at(-1)).toMatchObject({
      type: 'run.finished',
      status: 'cancelled',
      pending: ['db', 'web'],
    });
  });

  it('stops between phases when aborted', async () => {
    const { state, host } = setup();
    const controller = new AbortController();
    const events: RunEvent[] = [];
    const run = stateful(
      rebootEngine(state, {
        host,
        approval: approveAll(),
        healthIntervalMs: 1,
      }),
    ).on((e) => {
      events.push(e);
      if (e.type === 'machine.succeeded' && e.machine === 'nas') controller.abort();
    });
    const final = await run.run(controller.signal);
    expect(final.status).toBe('cancelled');
    expect(host.log).toEqual(['reboot nas']);
    expect(events.at(-1)).toMatchObject({ status: 'cancelled', pending: ['db', 'web'] });
  });

  it('a cancel while a machine is down waits for it, checks it, then ends the run: later machines untouched', async () => {
    const { state, host } = setup();
    const controller = new AbortController();
    const events: RunEvent[] = [];
    let back: () => void = () => {};
    const comesBack = new Promise<void>((resolve) => {
      back = resolve;
    });
    const waitForNewBoot = host.waitForNewBoot.bind(host);
    host.waitForNewBoot = async (m, previous, options) => {
      options.onDown?.();
      await comesBack; // down until the test says so, whatever the signal
      return waitForNewBoot(m, previous, { ...options, onDown: undefined });
    };
    const run = stateful(
      rebootEngine(state, {
        host,
        approval: approveAll(),
        healthIntervalMs: 1,
      }),
    ).on((e) => {
      events.push(e);
      if (e.type === 'machine.down' && e.machine === 'nas') {
        controller.abort(new RunCancelled('cancelled by bob'));
        setTimeout(back, 20);
      }
    });
    const final = await run.run(controller.signal);
    expect(final.status).toBe('cancelled');
    expect(host.log).toEqual(['reboot nas']);
    expect(summary(events)).toEqual([
      'run.started',
      'machine.rebooting nas',
      'machine.down nas',
      'run.cancelling',
      'machine.up nas',
      'machine.health nas',
      'machine.succeeded nas',
      'run.finished',
    ]);
    expect(events.at(-1)).toMatchObject({
      status: 'cancelled',
      reason: 'cancelled by bob',
      failure: null,
      pending: ['db', 'web'],
      outcomes: [
        { machine: 'nas', outcome: 'rebooted' },
        { machine: 'db', outcome: 'not touched' },
        { machine: 'web', outcome: 'not touched' },
      ],
    });
    expect(final.progress.nas).toMatchObject({ phase: 'succeeded', bootIdAfter: 'boot-nas-1' });
    expect(final.cancelReason).toBe('cancelled by bob');
  });

  it('a machine that does not come back after a cancel is reported as failed there, never as not touched', async () => {
    const { state, host } = setup({ rebootTimeout: 1 });
    host.neverBack.add('nas');
    const controller = new AbortController();
    const events: RunEvent[] = [];
    const run = stateful(
      rebootEngine(state, {
        host,
        approval: approveAll(),
        healthIntervalMs: 1,
        haltForMs: 60_000, // a queued run: still no halt once it is cancelled
      }),
    ).on((e) => {
      events.push(e);
      if (e.type === 'machine.rebooting') controller.abort(new RunCancelled('cancelled by bob'));
    });
    const final = await run.run(controller.signal);
    expect(final.status).toBe('cancelled');
    expect(final.halt).toBeNull();
    expect(events.at(-1)).toMatchObject({
      type: 'run.finished',
      status: 'cancelled',
      failure: { machine: 'nas', phase: 'coming back' },
      pending: ['db', 'web'],
      outcomes: [
        { machine: 'nas', outcome: 'failed' },
        { machine: 'db', outcome: 'not touched' },
        { machine: 'web', outcome: 'not touched' },
      ],
    });
  });

  it('a resumed run that was being cancelled goes on with the machine it had rebooted, and nothing else', async () => {
    const { run, checkpoints } = setup();
    await run.run();
    const afterSend = checkpoints
      .map((text) => JSON.parse(text) as RebootRunState)
      .find((s) => s.progress.db?.phase === 'coming-back') as RebootRunState;
    const host = new FakeHost();
    host.boots.set('nas', 1);
    host.boots.set('db', 1);
    const events: RunEvent[] = [];
    const final = await stateful(
      rebootEngine(afterSend, {
        host,
        approval: approveAll(),
        healthIntervalMs: 1,
      }),
    )
      .on((e) => events.push(e))
      .cancel('cancelled by bob');
    expect(final.status).toBe('cancelled');
    expect(host.log).toEqual([]);
    expect(events.at(-1)).toMatchObject({
      outcomes: [
        { machine: 'nas', outcome: 'rebooted' },
        { machine: 'db', outcome: 'rebooted' },
        { machine: 'web', outcome: 'not touched' },
      ],
    });
  });

  it('cancels a run that has not started, or is halted, at once', async () => {
    const { run, host, events } = setup();
    const final = await run.cancel('cancelled by bob');
    expect(final.status).toBe('cancelled');
    expect(host.log).toEqual([]);
    expect(summary(events)).toEqual(['run.finished']);
  });

  it('resumes a checkpointed state without repeating finished work', async () => {
    const { run, checkpoints } = setup();
    await run.run();
    // The checkpoint taken right after db's reboot command was sent.
    const afterSend = checkpoints
      .map((text) => JSON.parse(text) as RebootRunState)
      .find((s) => s.progress.db?.phase === 'coming-back');
    expect(afterSend).toBeDefined();
    const resumed = afterSend as RebootRunState;
    resumed.status = 'running';

    const host = new FakeHost();
    host.boots.set('nas', 1);
    host.boots.set('db', 1); // db really rebooted before the crash
    const events: RunEvent[] = [];
    const final = await stateful(
      rebootEngine(resumed, {
        host,
        approval: approveAll(),
        healthIntervalMs: 1,
      }),
    )
      .on((e) => events.push(e))
      .run();
    expect(final.status).toBe('succeeded');
    expect(host.log).toEqual(['reboot web']);
    expect(final.progress.db?.bootIdAfter).toBe('boot-db-1');
    expect(summary(events).slice(0, 4)).toEqual([
      'machine.down db',
      'machine.up db',
      'machine.health db',
      'machine.succeeded db',
    ]);
  });

  it('reboots the machines of a parallel step together', async () => {
    const wide = inventoryOf([
      machine('a', { rebootDelay: 0 }),
      machine('b', { rebootDelay: 0 }),
      machine('c', { rebootDelay: 0 }),
    ]);
    const state = createRebootRun(planSequence(wide, { parallel: 2 }), {
      flake: 't',
      settings: { healthTimeout: 0 },
    });
    const host = new FakeHost();
    const events: RunEvent[] = [];
    await stateful(rebootEngine(state, { host, approval: approveAll() }))
      .on((e) => events.push(e))
      .run();
    const order = summary(events).filter((line) => /rebooting|succeeded /.test(line));
    expect(order).toEqual([
      'machine.rebooting a',
      'machine.rebooting b',
      'machine.succeeded a',
      'machine.succeeded b',
      'machine.rebooting c',
      'machine.succeeded c',
    ]);
  });

  it('tells how long a machine was down and until it was healthy, the wait for approval apart', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const advance = (ms: number) => vi.setSystemTime(Date.now() + ms);
    /** A machine down 1.2 s after the reboot command, healthy 0.3 s after it is back. */
    class TimedHost extends FakeHost {
      override async waitForNewBoot(
        m: Machine,
        _previous: string,
        options: { deadline: number; onDown?: () => void },
      ) {
        options.onDown?.();
        advance(1_200);
        return { bootId: await this.bootId(m), downMs: 1_200 };
      }
      override async checkHealth(m: Machine) {
        advance(300);
        return super.checkHealth(m);
      }
    }
    const { state } = setup();
    const events: RunEvent[] = [];
    const final = await stateful(
      rebootEngine(state, {
        host: new TimedHost(),
        // db (high) waits two minutes for bob.
        approval: {
          request: async () => {
            advance(120_000);
            return { type: 'approved', approvals: [{ by: 'bob', at: new Date().toISOString() }] };
          },
        },
        healthIntervalMs: 1,
      }),
    )
      .on((e) => events.push(e))
      .run();
    expect(final.status).toBe('succeeded');
    const succeeded = (name: string) =>
      events.find((e) => e.type === 'machine.succeeded' && e.machine === name);
    expect(succeeded('db')).toMatchObject({ downMs: 1_200, healthyMs: 1_500, approvalWaitMs: 120_000 });
    expect((succeeded('db') as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(121_500);
    expect(succeeded('nas')).toMatchObject({ downMs: 1_200, healthyMs: 1_500, approvalWaitMs: null });
    expect(events.find((e) => e.type === 'machine.up' && e.machine === 'db')).toMatchObject({
      downMs: 1_200,
    });
  });

  it('keeps the state JSON-serialisable', () => {
    const { state } = setup();
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });
});
