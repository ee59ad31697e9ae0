import { describe, expect, it } from 'vitest';
import { checkDeadlineMs, monitorSettingsOf } from '../../src/domain/monitor/monitor-settings.js';
import {
  covers,
  formatDuration,
  parseDuration,
  type Silence,
  silenceFor,
} from '../../src/domain/monitor/silence.js';
import { machine } from '../support/machines.js';

const silence = (target: string, until: number, id = target): Silence => ({
  id,
  target,
  reason: 'maintenance',
  by: { id: 'cli:alice', name: 'alice' },
  createdAt: 0,
  until,
});

describe('silences', () => {
  it('parses durations as people write them, and refuses the rest', () => {
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration(' 1H 30M ')).toBe(5_400_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('4w')).toBe(4 * 604_800_000);
    for (const bad of ['', '2', 'h', '0m', '-1h', '1.5h', '2 hours', '5w'])
      expect(parseDuration(bad), bad).toBeNull();
  });

  it('formats durations', () => {
    expect(formatDuration(5_400_000)).toBe('1h 30m');
    expect(formatDuration(90_061_000)).toBe('1d 1h');
    expect(formatDuration(45_000)).toBe('45s');
    expect(formatDuration(0)).toBe('0s');
  });

  it('covers a machine by name, by group or all', () => {
    const db = { name: 'db', groups: ['data'] };
    expect(covers(silence('db', 1), db)).toBe(true);
    expect(covers(silence('web', 1), db)).toBe(false);
    expect(covers(silence('@data', 1), db)).toBe(true);
    expect(covers(silence('@edge', 1), db)).toBe(false);
    expect(covers(silence('all', 1), db)).toBe(true);
  });

  it('the covering silence that lasts longest, expired ones ignored', () => {
    const db = { name: 'db', groups: ['data'] };
    const silences = [
      silence('db', 100, 'a'),
      silence('@data', 300, 'b'),
      silence('all', 50, 'c'),
      silence('web', 900, 'd'),
    ];
    expect(silenceFor(silences, db, 10)?.id).toBe('b');
    expect(silenceFor(silences, db, 300)).toBeNull();
  });
});

describe('monitor settings of a machine', () => {
  const defaults = { interval: 60, failureThreshold: 3, successThreshold: 2, flapWindow: 900 };

  it("takes the machine's own values over the defaults", () => {
    expect(monitorSettingsOf(machine('db'), defaults)).toEqual({
      intervalMs: 60_000,
      thresholds: { failures: 3, successes: 2, flapWindowMs: 900_000 },
    });
    const own = machine('db', {
      monitor: { enable: true, interval: 10, failureThreshold: 5, successThreshold: null },
    });
    expect(monitorSettingsOf(own, defaults)).toEqual({
      intervalMs: 10_000,
      thresholds: { failures: 5, successes: 2, flapWindowMs: 900_000 },
    });
  });

  it('none when the monitor is off or the machine opts out', () => {
    expect(monitorSettingsOf(machine('db'), { ...defaults, interval: 0 })).toBeNull();
    const off = machine('db', {
      monitor: { enable: false, interval: null, failureThreshold: null, successThreshold: null },
    });
    expect(monitorSettingsOf(off, defaults)).toBeNull();
  });

  it('a check never takes longer than its slowest check and the connection', () => {
    const db = machine('db', {
      healthChecks: [
        { type: 'tcp', port: 1, url: null, command: null, timeout: 5, expectStatus: null },
        { type: 'command', command: 'true', url: null, port: null, timeout: 7, expectStatus: null },
      ],
    });
    expect(checkDeadlineMs(db, 10_000)).toBe(21_000);
  });
});

describe('LAB_METRICS_LISTEN', () => {
  it('is off unless set, host:port when set, and refused naming the variable otherwise', async () => {
    const { metricsListen } = await import('../../src/metrics/metrics-config.js');
    expect(metricsListen({})).toBeNull();
    expect(metricsListen({ LAB_METRICS_LISTEN: '' })).toBeNull();
    expect(metricsListen({ LAB_METRICS_LISTEN: '127.0.0.1:9464' })).toEqual({
      host: '127.0.0.1',
      port: 9464,
    });
    expect(metricsListen({ LAB_METRICS_LISTEN: '[::1]:9464' })).toEqual({ host: '::1', port: 9464 });
    for (const bad of ['9464', 'localhost', '127.0.0.1:0', '127.0.0.1:70000', 'http://x:1'])
      expect(() => metricsListen({ LAB_METRICS_LISTEN: bad }), bad).toThrow(
        /^invalid environment: LAB_METRICS_LISTEN: /,
      );
  });
});
