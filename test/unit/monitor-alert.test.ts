import { describe, expect, it } from 'vitest';
import { decodeButton } from '../../src/discord/custom-ids.js';
import { monitorAlertMessage } from '../../src/discord/render/monitor-alert.js';
import type { WatchEvent } from '../../src/domain/monitor/machine-watch.js';

type Failing = Extract<WatchEvent, { type: 'monitor.alert' }>;

const alert = (overrides: Partial<Failing>): Failing => ({
  type: 'monitor.alert',
  machine: 'db',
  incident: 'inc1',
  status: 'unreachable',
  since: Date.parse('2026-12-02T03:00:00Z'),
  at: Date.parse('2026-12-02T03:00:30Z'),
  reason: 'unreachable: connect ECONNREFUSED',
  checks: [],
  ...overrides,
});

const buttons = (event: Failing) =>
  (monitorAlertMessage(event, '123456789').components?.[0]?.components ?? []).map((button) =>
    'custom_id' in button ? decodeButton(button.custom_id ?? '') : null,
  );

describe('the monitor alert of an unreachable machine', () => {
  it('offers Power cycle when the machine has power control that can cycle it', () => {
    expect(buttons(alert({ powerCycle: true }))).toEqual([
      { action: 'monitor-reboot', machine: 'db' },
      { action: 'silence', machine: 'db', duration: '1h' },
      { action: 'check', machine: 'db' },
      { action: 'power-cycle', machine: 'db', haltedRun: null },
    ]);
  });

  it('does not when it cannot, or when the machine answers but is unhealthy', () => {
    expect(buttons(alert({ powerCycle: false }))).toHaveLength(3);
    expect(buttons(alert({}))).toHaveLength(3);
    expect(buttons(alert({ status: 'unhealthy', powerCycle: true }))).toHaveLength(3);
  });
});
