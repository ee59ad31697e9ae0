import { describe, expect, it } from 'vitest';
import { powerSchema } from '../../src/domain/inventory/power-schema.js';
import type { Machine } from '../../src/domain/inventory/schema.js';
import { planSequence } from '../../src/domain/planner/plan.js';
import type { PowerActionResult, PowerControl } from '../../src/domain/power/power-control.js';
import type { MachineAnswer } from '../../src/domain/reboot/reboot-host.js';
import { rebootEngine } from '../../src/orchestration/procedures/reboot.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';
import { createRebootRun, type RebootRunState, type RunState } from '../../src/orchestration/run-state.js';
import { approveAll, FakeHost, stateful } from '../support/fake-host.js';
import { inventoryOf, machine } from '../support/machines.js';

/** A FakeHost that can be probed: down while it has not come back. */
class ProbedHost extends FakeHost {
  probes = 0;
  async probe(m: Machine): Promise<MachineAnswer> {
    this.probes += 1;
    return this.neverBack.has(m.name)
      ? { kind: 'down', reason: 'connection refused' }
      : { kind: 'answers', bootId: await this.bootId(m), reason: null };
  }
}

/** Power control that power-cycles a FakeHost machine (it boots again), and counts what it did. */
class FakePower implements PowerControl {
  readonly actions: string[] = [];
  /** The last checkpoint when each action began. */
  readonly savedBefore: (RunState | null)[] = [];
  constructor(
    private readonly host: ProbedHost,
    private readonly latest: () => RunState | null,
    private readonly bringsBack = true,
  ) {}
  private act(m: Machine, action: PowerActionResult['action']): Promise<PowerActionResult> {
    this.actions.push(`${action} ${m.name}`);
    this.savedBefore.push(this.latest());
    if (this.bringsBack && action !== 'off') {
      this.host.neverBack.delete(m.name);
      this.host.boots.set(m.name, (this.host.boots.get(m.name) ?? 0) + 1);
    }
    return Promise.resolve({ machine: m.name, action, ok: true, steps: [], error: null });
  }
  on = (m: Machine) => this.act(m, 'on');
  off = (m: Machine) => this.act(m, 'off');
  cycle = (m: Machine) => this.act(m, 'cycle');
  status = (m: Machine) => this.act(m, 'status');
}

const power = powerSchema.parse({ command: { cycle: ['plug', 'cycle'] }, recover: 'power-cycle' });
const lab = inventoryOf([machine('nas', { rebootDelay: 0, power })]);

function setup(state: RebootRunState = createRebootRun(planSequence(lab), { flake: 'test', id: 'run-1' })) {
  const host = new ProbedHost();
  host.neverBack.add('nas');
  let latest: RunState | null = null;
  const control = new FakePower(host, () => latest);
  const events: RunEvent[] = [];
  const run = stateful(
    rebootEngine(state, {
      host,
      power: control,
      approval: approveAll(),
      checkpoint: (s) => {
        latest = JSON.parse(JSON.stringify(s));
      },
      healthIntervalMs: 1,
    }),
  ).on((event) => events.push(event));
  return { host, control, events, run, state, latest: () => latest };
}

describe('a reboot run’s automatic power recovery', () => {
  it('is saved in the machine’s progress before lab acts, once', async () => {
    const { control, run, events } = setup();
    const final = await run.run();
    expect(final.status).toBe('succeeded');
    expect(control.actions).toEqual(['cycle nas']);
    expect(control.savedBefore[0]?.progress.nas?.powerRecovery).toMatchObject({
      endedAt: null,
      text: null,
      reason: expect.stringContaining('nas did not come back'),
    });
    expect(final.progress.nas?.powerRecovery).toMatchObject({
      powered: true,
      text: 'lab power-cycled nas once',
    });
    expect(events.filter((e) => e.type === 'machine.power')).toEqual([
      expect.objectContaining({ machine: 'nas', trigger: 'recovery', action: 'cycle' }),
    ]);
  });

  it('a run resumed after a crash while it acted never acts again: it fails, saying so', async () => {
    // The checkpoint a worker left when it died during the power action.
    const first = setup();
    await first.run.run();
    const saved = first.control.savedBefore[0] as RebootRunState;
    expect(saved.progress.nas?.powerRecovery).toMatchObject({ endedAt: null });
    expect(saved.progress.nas?.phase).toBe('coming-back');

    const resumed = setup({ ...saved, settings: { ...saved.settings, rebootTimeout: 0 } });
    const final = await resumed.run.run();
    expect(resumed.control.actions).toEqual([]);
    expect(resumed.host.probes).toBe(0);
    expect(final.progress.nas?.error?.reason).toMatch(
      /lab began its one automatic power action on nas but the run was interrupted before it ended, and nas has not come back within 0 s since \(not repeated\)$/,
    );
  });

  it('a machine still down after its power cycle fails, powered once, probed once', async () => {
    const { host, control, run } = setup();
    control.cycle = async (m) => {
      control.actions.push(`cycle ${m.name}`);
      return { machine: m.name, action: 'cycle', ok: true, steps: [], error: null };
    };
    const failed = await run.run();
    expect(failed.status).toBe('failed');
    expect(failed.progress.nas?.error?.reason).toMatch(
      /; lab power-cycled nas once, and it did not come back within 600 s of that either \(SSH never answered again\)$/,
    );
    expect(control.actions).toEqual(['cycle nas']);
    expect(host.probes).toBe(1);
  });
});
