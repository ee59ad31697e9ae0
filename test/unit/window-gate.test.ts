import { describe, expect, it } from 'vitest';
import type { Machine } from '../../src/domain/inventory/schema.js';
import { deploySteps } from '../../src/domain/planner/deploy-steps.js';
import { planSequence } from '../../src/domain/planner/plan.js';
import { parseWindow } from '../../src/domain/schedule/maintenance-window.js';
import { deployEngine } from '../../src/orchestration/procedures/deploy.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';
import { createDeployRun, type RunSettings } from '../../src/orchestration/run-state.js';
import { stateful } from '../support/fake-host.js';
import { inventoryOf, machine } from '../support/machines.js';
import { NixosMachines } from '../support/nixos-machines.js';

/** `HH:MM:SS` in UTC of an epoch ms time. */
const utc = (ms: number) => new Date(ms).toISOString().slice(11, 19);
/** The next whole second at least `ms` from now. */
const secondsFromNow = (ms: number) => Math.ceil((Date.now() + ms) / 1000) * 1000;

function deploy(machines: Machine[], settings: Partial<RunSettings>) {
  const host = new NixosMachines();
  const state = createDeployRun(deploySteps(planSequence(inventoryOf(machines))), {
    flake: 't',
    settings: { healthTimeout: 0, rebootTimeout: 1, ...settings },
  });
  const events: RunEvent[] = [];
  const run = stateful(
    deployEngine(state, {
      host,
      build: async (names) => new Map(names.map((name) => [name, `/new/${name}`])),
      healthIntervalMs: 1,
    }),
  ).on((event) => events.push(event));
  return { state, host, events, run };
}

describe('deploys keep to maintenance windows (in-process: the wait is waited out)', () => {
  it('a rolling machine and a recreate group with their own window are activated only once it is open', async () => {
    const opensAt = secondsFromNow(300);
    const maintenanceWindow = parseWindow(`${utc(opensAt)}-${utc(opensAt + 3600_000)} UTC`);
    const { run, events, host, state } = deploy(
      [
        machine('a', { maintenanceWindow }),
        machine('b', { deployStrategy: 'recreate', rebootOrder: 2, maintenanceWindow }),
        machine('c', { deployStrategy: 'recreate', rebootOrder: 2, maintenanceWindow }),
        machine('d', { rebootOrder: 3 }),
      ],
      { window: 'inside', maintenanceWindow: null },
    );
    expect((await run.run()).status).toBe('succeeded');
    const waits = events.filter((e) => e.type === 'machine.waiting' && e.reason === 'window');
    expect(waits.map((e) => 'machine' in e && e.machine)).toEqual(['a']);
    const activations = events.filter((e) => e.type === 'machine.activating');
    expect(activations.map((e) => 'machine' in e && e.machine)).toEqual(['a', 'b', 'c', 'd']);
    for (const event of activations) expect(Date.parse(event.at)).toBeGreaterThanOrEqual(opensAt);
    expect(host.state('a').running).toBe('/new/a');
    expect(state.progress.a?.windowWaits).toHaveLength(1);
  });

  it('a recreate group whose window is closed waits for it together, then switches', async () => {
    const opensAt = secondsFromNow(300);
    const maintenanceWindow = parseWindow(`${utc(opensAt)}-${utc(opensAt + 3600_000)} UTC`);
    const { run, events, state } = deploy(
      [
        machine('b', { deployStrategy: 'recreate', maintenanceWindow }),
        machine('c', { deployStrategy: 'recreate', maintenanceWindow }),
      ],
      { window: 'inside' },
    );
    expect((await run.run()).status).toBe('succeeded');
    const waits = events.filter((e) => e.type === 'machine.waiting' && e.reason === 'window');
    expect(waits.map((e) => 'machine' in e && e.machine).sort()).toEqual(['b', 'c']);
    const activations = events.filter((e) => e.type === 'machine.activating');
    expect(activations).toHaveLength(2);
    for (const event of activations) expect(Date.parse(event.at)).toBeGreaterThanOrEqual(opensAt);
    expect(state.progress.b?.windowWaits).toHaveLength(1);
  });

  it('a machine that fits in no opening of its window fails at "maintenance window", touching nothing', async () => {
    const { run, events, host } = deploy([machine('a')], {
      window: 'inside',
      healthTimeout: 3600,
      maintenanceWindow: parseWindow('01:00-01:30 UTC'),
    });
    expect((await run.run()).status).toBe('failed');
    expect(events.find((e) => e.type === 'machine.failed')).toMatchObject({
      machine: 'a',
      phase: 'maintenance window',
      reason: 'no opening of its window (daily 01:00-01:30 UTC) is long enough for 61 min',
    });
    expect(host.log).toEqual([]);
  });

  it('without window settings (an ad-hoc run) or forced, it starts at once whatever the window', async () => {
    for (const window of [undefined, 'forced'] as const) {
      const { run, events } = deploy([machine('a')], {
        ...(window ? { window } : {}),
        maintenanceWindow: parseWindow(
          `${utc(secondsFromNow(3600_000))}-${utc(secondsFromNow(7200_000))} UTC`,
        ),
      });
      expect((await run.run()).status).toBe('succeeded');
      expect(events.some((e) => e.type === 'machine.waiting')).toBe(false);
    }
  });
});
