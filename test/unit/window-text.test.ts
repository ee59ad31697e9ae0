import { describe, expect, it } from 'vitest';
import { sequenceJson, sequenceText } from '../../src/cli/render/sequence.js';
import { plainStyle } from '../../src/cli/render/style.js';
import { planMessage } from '../../src/discord/render/plan-message.js';
import { planSequence } from '../../src/domain/planner/plan.js';
import { parseWindow } from '../../src/domain/schedule/maintenance-window.js';
import { roughDuration, windowText, windowView } from '../../src/orchestration/maintenance-window-text.js';
import { inventoryOf, machine } from '../support/machines.js';

const now = Date.parse('2026-01-02T12:00:00Z'); // Fri 13:00 in Berlin
const weekend = parseWindow('sat,sun 23:00-05:00 Europe/Berlin');

describe("a machine's next window, as lab sequence shows it", () => {
  it('says when it opens, or that it is open and when it closes, in its own zone', () => {
    expect(windowText(windowView(weekend, now), now)).toBe(
      'window sat,sun 23:00-05:00 Europe/Berlin: opens Sat 3 Jan 23:00 (in 34 h)',
    );
    const sunday = Date.parse('2026-01-04T01:00:00Z'); // Sun 02:00: in Saturday's opening
    expect(windowText(windowView(weekend, sunday), sunday)).toBe(
      'window sat,sun 23:00-05:00 Europe/Berlin: open now, closes Sun 4 Jan 05:00 (in 3 h)',
    );
    expect(roughDuration(40_000)).toBe('40 s');
    expect(roughDuration(90 * 60_000)).toBe('1 h 30 min');
  });

  it('lab sequence: the machine with its own window, the others the global one or none', () => {
    const inventory = inventoryOf([
      machine('db', { rebootOrder: 1, maintenanceWindow: weekend }),
      machine('web', { rebootOrder: 2 }),
    ]);
    const plan = planSequence(inventory, { targets: [] });
    expect(sequenceText(plan, inventory, plainStyle, { now, global: null }).slice(0, 8)).toEqual([
      'Reboot sequence for test: 2 machines in 2 steps',
      '',
      'rebootOrder 1',
      '  1. db (delay: 600 seconds) · medium',
      '     window sat,sun 23:00-05:00 Europe/Berlin: opens Sat 3 Jan 23:00 (in 34 h)',
      '',
      'rebootOrder 2',
      '  2. web (delay: 600 seconds) · medium',
    ]);
    const json = sequenceJson(plan, inventory, { now, global: parseWindow('daily 01:00-03:00 UTC') });
    expect(json.steps.map((step) => step.machines[0])).toEqual([
      {
        name: 'db',
        rebootDelay: 600,
        criticalityLevel: 'medium',
        dependencies: [],
        window: {
          description: 'sat,sun 23:00-05:00 Europe/Berlin',
          open: false,
          opensAt: '2026-01-03T22:00:00.000Z',
          closesAt: '2026-01-04T04:00:00.000Z',
        },
      },
      {
        name: 'web',
        rebootDelay: 600,
        criticalityLevel: 'medium',
        dependencies: [],
        window: {
          description: 'daily 01:00-03:00 UTC',
          open: false,
          opensAt: '2026-01-03T01:00:00.000Z',
          closesAt: '2026-01-03T03:00:00.000Z',
        },
      },
    ]);
    // Without any window the document is what it always was.
    expect(
      Object.keys(sequenceJson(plan, inventory, { now, global: null }).steps[1]?.machines[0] ?? {}),
    ).toEqual(['name', 'rebootDelay', 'criticalityLevel', 'dependencies']);
  });

  it('/lab sequence: each machine with a window says when it opens, as a Discord timestamp', () => {
    const inventory = inventoryOf([machine('db', { maintenanceWindow: weekend }), machine('web')]);
    const plan = planSequence(inventory, { targets: [] });
    const policy = {
      required: { low: 0, medium: 0, high: 1, critical: 2 },
      selfApproval: false,
      timeout: 1800,
    };
    const message = planMessage(plan, inventory, policy, {
      target: 'all',
      planId: 'p',
      windows: { now, global: null },
    });
    const description = message.embeds[0]?.description ?? '';
    expect(description).toContain(
      `**db** (medium · waits 600 s · 🕑 window opens <t:${Date.parse('2026-01-03T22:00:00Z') / 1000}:R>)`,
    );
    expect(description).toContain('**web** (medium · waits 600 s)');
  });
});
