import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../src/domain/health/check-result.js';
import {
  heldByRun,
  type MachineWatch,
  newWatch,
  type Observation,
  observe,
  type Thresholds,
  type WatchEvent,
  watchView,
} from '../../src/domain/monitor/machine-watch.js';

const thresholds: Thresholds = { failures: 3, successes: 2, flapWindowMs: 60_000 };
const tcp = (ok: boolean): CheckResult => ({
  name: 'tcp 5432',
  type: 'tcp',
  ok,
  latencyMs: 3,
  error: ok ? null : 'connection refused',
});
const pass = (at: number): Observation => ({
  at,
  reachable: true,
  error: null,
  checks: [tcp(true)],
  ok: true,
});
const fail = (at: number): Observation => ({
  at,
  reachable: true,
  error: null,
  checks: [tcp(false)],
  ok: false,
});
const gone = (at: number): Observation => ({
  at,
  reachable: false,
  error: 'connection refused',
  checks: [],
  ok: false,
});
const open = { silence: null };

/** Feeds the observations in order; returns the last state and every event but status changes. */
function run(
  observations: Observation[],
  start: MachineWatch = newWatch('db'),
  context: (o: Observation) => { silence: string | null } = () => open,
) {
  let watch = start;
  const events: WatchEvent[] = [];
  for (const observed of observations) {
    const next = observe(watch, observed, thresholds, context(observed));
    watch = next.watch;
    events.push(...next.events);
  }
  return { watch, alerts: events.filter((event) => event.type !== 'monitor.status'), events };
}

describe('observe: thresholds as Gatus has them', () => {
  it('reports a machine after 3 failing checks, once, with the failing checks and since when', () => {
    const { watch, alerts } = run([pass(0), fail(10), fail(20)]);
    expect(watch.status).toBe('healthy');
    expect(alerts).toEqual([]);
    const after = run([fail(30), fail(40)], watch);
    expect(after.alerts).toEqual([
      {
        type: 'monitor.alert',
        machine: 'db',
        incident: 'db@10',
        status: 'unhealthy',
        since: 10,
        at: 30,
        reason: 'tcp 5432 (connection refused)',
        checks: [tcp(false)],
      },
    ]);
    expect(after.watch).toMatchObject({ status: 'unhealthy', since: 10, failures: 4, checks: 5 });
  });

  it('a passing check in between starts the count again', () => {
    expect(run([fail(0), fail(1), pass(2), fail(3), fail(4)]).alerts).toEqual([]);
  });

  it('recovers after 2 passing checks, reporting how long it was down', () => {
    const down = run([fail(0), fail(10), fail(20)]).watch;
    const oneGood = run([pass(30)], down);
    expect(oneGood.watch.status).toBe('unhealthy');
    expect(oneGood.alerts).toEqual([]);
    const back = run([pass(40)], oneGood.watch);
    expect(back.alerts).toEqual([
      { type: 'monitor.recovered', machine: 'db', incident: 'db@0', since: 0, at: 40, downMs: 40 },
    ]);
    expect(back.watch).toMatchObject({ status: 'healthy', since: 40, incident: null });
  });

  it('unreachable is its own status, and the reason is the connection error', () => {
    const { watch, alerts } = run([gone(0), gone(1), gone(2)]);
    expect(watch.status).toBe('unreachable');
    expect(alerts[0]).toMatchObject({
      status: 'unreachable',
      reason: 'unreachable: connection refused',
      checks: [],
    });
    // It answers again but its checks still fail: same incident, status follows, no new alert.
    const half = run([fail(3)], watch);
    expect(half.watch.status).toBe('unhealthy');
    expect(half.alerts).toEqual([]);
  });

  it('a silenced machine raises no alert; one raised when the silence is over, and no recovery without an alert', () => {
    const silenced = (o: Observation) => ({ silence: o.at < 25 ? 'sil1' : null });
    const { watch, alerts } = run([fail(0), fail(10), fail(20)], newWatch('db'), silenced);
    expect(watch.status).toBe('unhealthy');
    expect(alerts).toEqual([]);
    expect(run([fail(30)], watch).alerts.map((event) => [event.type, event.at])).toEqual([
      ['monitor.alert', 30],
    ]);
    // Recovered while still silenced, never alerted: nothing to say.
    expect(run([pass(21), pass(22)], watch, silenced).alerts).toEqual([]);
  });

  it('a flap while silenced is not announced; once the silence is over, the alert reopens (no second page)', () => {
    const first = run([fail(0), fail(1), fail(2), pass(3), pass(4)]).watch;
    const silenced = (o: Observation) => ({ silence: o.at < 10 ? 'sil1' : null });
    const flap = run([fail(5), fail(6), fail(7)], first, silenced);
    expect(flap.alerts).toEqual([]);
    expect(run([fail(11)], flap.watch).alerts.map((event) => [event.type, event.incident])).toEqual([
      ['monitor.reopened', 'db@0'],
    ]);
  });

  it('flapping reopens the incident (no new page) within the flap window, and pages anew after it', () => {
    const first = run([fail(0), fail(1), fail(2), pass(3), pass(4)]);
    expect(first.alerts.map((event) => event.type)).toEqual(['monitor.alert', 'monitor.recovered']);
    const flap = run([fail(5), fail(6), fail(7)], first.watch);
    expect(flap.alerts).toEqual([
      {
        type: 'monitor.reopened',
        machine: 'db',
        incident: 'db@0',
        status: 'unhealthy',
        since: 0,
        at: 7,
        flaps: 1,
        reason: 'tcp 5432 (connection refused)',
        checks: [tcp(false)],
      },
    ]);
    const recovered = run([pass(8), pass(9)], flap.watch);
    expect(recovered.alerts.map((event) => event.type)).toEqual(['monitor.recovered']);
    const later = run([fail(70_000), fail(70_001), fail(70_002)], recovered.watch);
    expect(later.alerts.map((event) => [event.type, event.incident])).toEqual([
      ['monitor.alert', 'db@70000'],
    ]);
  });

  it('a run holding the machine restarts the streaks and keeps an open incident for its recovery', () => {
    const down = run([fail(0), fail(1), fail(2), fail(3)]).watch;
    const held = heldByRun(down, 'run1');
    expect(watchView(held, { silenced: false, monitored: true })).toBe('in a run');
    expect(held).toMatchObject({ status: 'unhealthy', failures: 0, incident: { id: 'db@0' } });
    const after = run([pass(50), pass(60)], held);
    expect(after.alerts.map((event) => event.type)).toEqual(['monitor.recovered']);
    expect(after.watch.run).toBeNull();
    // A healthy machine's streak is reset by a run: one failure after it is not three.
    const healthy = heldByRun(run([pass(0), fail(1), fail(2)]).watch, 'run2');
    expect(run([fail(3)], healthy).alerts).toEqual([]);
  });

  it('reports status changes for the logs', () => {
    const { events } = run([pass(0), fail(1), fail(2), fail(3)]);
    expect(events.filter((event) => event.type === 'monitor.status')).toEqual([
      { type: 'monitor.status', machine: 'db', from: 'unknown', to: 'healthy', at: 0 },
      { type: 'monitor.status', machine: 'db', from: 'healthy', to: 'unhealthy', at: 3 },
    ]);
  });

  it('views: not monitored, silenced, the status', () => {
    expect(watchView(null, { silenced: false, monitored: false })).toBe('not monitored');
    expect(watchView(null, { silenced: true, monitored: true })).toBe('silenced');
    expect(watchView(null, { silenced: false, monitored: true })).toBe('unknown');
  });
});
