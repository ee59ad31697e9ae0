import { describe, expect, it } from 'vitest';
import { powerSchema } from '../../src/domain/inventory/power-schema.js';
import type { Machine } from '../../src/domain/inventory/schema.js';
import type { PowerActionResult, PowerControl } from '../../src/domain/power/power-control.js';
import { powerEngine } from '../../src/orchestration/procedures/power.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';
import type { ApprovalPort } from '../../src/orchestration/run-flow.js';
import { createPowerRun, type PowerRunState } from '../../src/orchestration/run-state.js';
import { stateful } from '../support/fake-host.js';
import { machine } from '../support/machines.js';

/** Power control that records what it was asked to do. */
class RecordingPower implements PowerControl {
  readonly actions: string[] = [];
  private act(m: Machine, action: PowerActionResult['action']): Promise<PowerActionResult> {
    this.actions.push(`${action} ${m.name}`);
    return Promise.resolve({ machine: m.name, action, ok: true, steps: [], error: null });
  }
  on = (m: Machine) => this.act(m, 'on');
  off = (m: Machine) => this.act(m, 'off');
  cycle = (m: Machine) => this.act(m, 'cycle');
  status = (m: Machine) => this.act(m, 'status');
}

const power = powerSchema.parse({ command: { cycle: ['plug', 'cycle'], status: ['plug', 'status'] } });
const db = machine('db', { criticalityLevel: 'high', power });

function setup(state: PowerRunState, approval: ApprovalPort) {
  const control = new RecordingPower();
  const events: RunEvent[] = [];
  const asked: string[] = [];
  const run = stateful(
    powerEngine(state, {
      power: control,
      approval: {
        request: (m) => {
          asked.push(m.name);
          return approval.request(m);
        },
      },
    }),
  ).on((event) => events.push(event));
  return { control, events, asked, run };
}

const approved: ApprovalPort = { request: async () => ({ type: 'approved', approvals: [] }) };
const powerRun = (action: 'cycle' | 'status' | 'off') =>
  createPowerRun(
    db,
    { action, by: 'alice' },
    { flake: 'test', id: 'run-p', settings: { confirmLevels: ['high'] } },
  );

describe('a power run', () => {
  it('asks for the machine’s approval before a power cycle, then acts once, reported by who asked', async () => {
    const { control, events, asked, run } = setup(powerRun('cycle'), approved);
    const final = await run.run();
    expect(final.status).toBe('succeeded');
    expect(asked).toEqual(['db']);
    expect(control.actions).toEqual(['cycle db']);
    expect(events.find((event) => event.type === 'machine.power')).toMatchObject({
      trigger: 'operator',
      by: 'alice',
      action: 'cycle',
    });
    expect(events.at(-1)).toMatchObject({
      type: 'run.finished',
      outcomes: [{ machine: 'db', outcome: 'powered' }],
    });
  });

  it('reads the power state without an approval', async () => {
    const { control, asked, run } = setup(powerRun('status'), approved);
    expect((await run.run()).status).toBe('succeeded');
    expect(asked).toEqual([]);
    expect(control.actions).toEqual(['status db']);
  });

  it('a denial cancels it, nothing done', async () => {
    const { control, run } = setup(powerRun('cycle'), {
      request: async () => ({ type: 'denied', reason: 'db was denied by bob' }),
    });
    const final = await run.run();
    expect(final.status).toBe('cancelled');
    expect(control.actions).toEqual([]);
  });

  it('refuses an action the machine has no method for, before asking anyone', async () => {
    const { control, asked, run } = setup(powerRun('off'), approved);
    const final = await run.run();
    expect(final.status).toBe('failed');
    expect(asked).toEqual([]);
    expect(control.actions).toEqual([]);
    expect(final.progress.db?.error).toEqual({
      phase: 'power',
      reason: 'no power control to power off db: set lab.machine.power.command.off',
    });
  });

  it('a run resumed after it began acting never acts again', async () => {
    const state = powerRun('cycle');
    state.status = 'running';
    state.startedAt = Date.now();
    state.progress.db = {
      ...(state.progress.db as PowerRunState['progress'][string]),
      phase: 'power',
      powerStartedAt: Date.now(),
    };
    const { control, run } = setup(state, approved);
    const final = await run.run();
    expect(final.status).toBe('failed');
    expect(control.actions).toEqual([]);
    expect(final.progress.db?.error?.reason).toBe(
      'the power cycle of db was begun before the run was interrupted; lab does not repeat it (lab power db status reads its state)',
    );
  });
});
