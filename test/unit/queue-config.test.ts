import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../src/errors.js';
import { copyConcurrency } from '../../src/orchestration/copy-ahead.js';
import { levelsNeedingApproval, queueConfig } from '../../src/orchestration/queue/queue-config.js';
import { unixSocketPath } from '../../src/orchestration/queue/redis.js';
import { parseRunRequest, requestFingerprint } from '../../src/orchestration/queue/run-request.js';

describe('queue configuration from the environment', () => {
  it('has the documented defaults', () => {
    const config = queueConfig({});
    expect(config).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      queue: 'lab',
      concurrency: 4,
      lockDurationMs: 30_000,
      haltTimeout: 3600,
      schedule: null,
      approvals: {
        required: { low: 0, medium: 0, high: 1, critical: 2 },
        selfApproval: false,
        timeout: 1800,
      },
    });
    expect(levelsNeedingApproval(config.approvals)).toEqual(['high', 'critical']);
  });

  it('reads LAB_MAINTENANCE_WINDOW, and refuses an invalid one naming the variable', () => {
    expect(queueConfig({}).maintenanceWindow).toBeNull();
    expect(
      queueConfig({ LAB_MAINTENANCE_WINDOW: 'sat,sun 23:00-05:00 Europe/Berlin' }).maintenanceWindow,
    ).toEqual({
      days: ['sat', 'sun'],
      start: '23:00',
      end: '05:00',
      timeZone: 'Europe/Berlin',
    });
    expect(() => queueConfig({ LAB_MAINTENANCE_WINDOW: 'nightly' })).toThrow(
      new ConfigurationError(
        "LAB_MAINTENANCE_WINDOW: 'nightly' is not [days] HH:MM-HH:MM [time zone], e.g. 'mon-fri 01:00-05:00 Europe/Berlin'",
      ),
    );
  });

  it('reads the approval policy and the schedule', () => {
    const config = queueConfig({
      LAB_APPROVALS_MEDIUM: '1',
      LAB_APPROVALS_CRITICAL: '3',
      LAB_SELF_APPROVAL: 'true',
      LAB_APPROVAL_TIMEOUT: '600',
      LAB_SCHEDULE: '0 3 * * *',
      LAB_SCHEDULE_TZ: 'Europe/Berlin',
      LAB_FLAKE: '/etc/homelab',
    });
    expect(config.approvals).toEqual({
      required: { low: 0, medium: 1, high: 1, critical: 3 },
      selfApproval: true,
      timeout: 600,
    });
    expect(config.schedule).toEqual({
      cron: '0 3 * * *',
      tz: 'Europe/Berlin',
      flake: '/etc/homelab',
      flakeUpdate: false,
      skipBroken: false,
    });
    expect(
      queueConfig({ LAB_SCHEDULE: '0 3 * * *', LAB_FLAKE: '/etc/homelab', LAB_SCHEDULE_SKIP_BROKEN: '1' })
        .schedule?.skipBroken,
    ).toBe(true);
    expect(() => queueConfig({ LAB_SCHEDULE_SKIP_BROKEN: 'sometimes' })).toThrow(/LAB_SCHEDULE_SKIP_BROKEN/);
  });

  it('accepts Redis on a unix socket, with an optional database number', () => {
    expect(queueConfig({ REDIS_URL: 'unix:///run/redis-lab/redis.sock' }).redisUrl).toBe(
      'unix:///run/redis-lab/redis.sock',
    );
    expect(unixSocketPath('unix:///run/redis-lab/redis.sock?db=2')).toEqual({
      path: '/run/redis-lab/redis.sock',
      db: 2,
    });
    expect(unixSocketPath('redis://127.0.0.1:6379')).toBeNull();
    expect(() => queueConfig({ REDIS_URL: 'unix://relative.sock' })).toThrow(/REDIS_URL: .*unix:\/\/\/path/);
  });

  it('names the variable and what is wrong with it', () => {
    expect(() => queueConfig({ REDIS_URL: 'localhost:6379' })).toThrow(
      /REDIS_URL: must start with redis:\/\/ or rediss:\/\//,
    );
    expect(() => queueConfig({ LAB_APPROVALS_HIGH: 'one' })).toThrow(/LAB_APPROVALS_HIGH/);
    expect(() => queueConfig({ LAB_QUEUE: 'a b' })).toThrow(/LAB_QUEUE: letters, digits/);
    expect(() => queueConfig({ LAB_SCHEDULE: 'nightly' })).toThrow(/LAB_SCHEDULE: a cron expression/);
    expect(() => queueConfig({ LAB_SCHEDULE: '0 3 * * *' })).toThrow(ConfigurationError);
    expect(() => queueConfig({ LAB_SCHEDULE: '0 3 * * *' })).toThrow(/LAB_SCHEDULE needs LAB_FLAKE/);
  });

  it('reads LAB_COPY_CONCURRENCY: default 4, 0 to 64, else named with the rule', () => {
    expect(queueConfig({}).copyConcurrency).toBe(4);
    expect(queueConfig({ LAB_COPY_CONCURRENCY: '0' }).copyConcurrency).toBe(0);
    expect(queueConfig({ LAB_COPY_CONCURRENCY: '64' }).copyConcurrency).toBe(64);
    for (const value of ['65', '-1', '2.5', 'four'])
      expect(() => queueConfig({ LAB_COPY_CONCURRENCY: value }), value).toThrow(
        'invalid environment: LAB_COPY_CONCURRENCY: must be a whole number from 0 to 64',
      );
    expect(copyConcurrency({})).toBe(4);
    expect(copyConcurrency({ LAB_COPY_CONCURRENCY: '1' })).toBe(1);
    expect(() => copyConcurrency({ LAB_COPY_CONCURRENCY: '65' })).toThrow(
      "invalid environment: LAB_COPY_CONCURRENCY: must be a whole number from 0 to 64 (got '65')",
    );
  });
});

describe('run requests', () => {
  const base = {
    kind: 'reboot',
    flake: '/etc/homelab',
    targets: ['web', 'db'],
    requestedBy: { id: 'discord:1', name: 'alice' },
    source: 'discord',
  } as const;

  it('fills defaults and refuses unknown fields, naming them', () => {
    expect(parseRunRequest(base)).toMatchObject({ parallel: 1, onlyNeeded: false, rebootIfNeeded: false });
    expect(() => parseRunRequest({ ...base, command: 'rm -rf /' })).toThrow(/invalid run request/);
    expect(() => parseRunRequest({ ...base, kind: 'format' })).toThrow(/kind/);
    expect(() => parseRunRequest({ ...base, parallel: 0 })).toThrow(/parallel/);
  });

  it('a power run: one machine by name and its action; no power action on other kinds', () => {
    const power = { ...base, kind: 'power', targets: ['db'], action: 'cycle' } as const;
    expect(parseRunRequest(power)).toMatchObject({ kind: 'power', targets: ['db'], action: 'cycle' });
    expect(() => parseRunRequest({ ...power, action: undefined })).toThrow(
      'invalid run request: action: a power run needs one of on, off, cycle, status',
    );
    expect(() => parseRunRequest({ ...power, action: 'explode' })).toThrow(/invalid run request: action/);
    expect(() => parseRunRequest({ ...power, targets: ['db', 'web'] })).toThrow(
      'invalid run request: targets: a power run is for exactly one machine, by name',
    );
    expect(() => parseRunRequest({ ...power, targets: ['@storage'] })).toThrow(/exactly one machine/);
    expect(() => parseRunRequest({ ...base, action: 'off' })).toThrow(
      'invalid run request: action: a reboot run has no power action',
    );
    // Another action is another request: not a duplicate of the first.
    expect(requestFingerprint(parseRunRequest(power))).not.toBe(
      requestFingerprint(parseRunRequest({ ...power, action: 'off' })),
    );
  });

  it('fingerprints what is asked, not who asks or in which order the targets come', () => {
    const a = requestFingerprint(parseRunRequest(base));
    const b = requestFingerprint(
      parseRunRequest({
        ...base,
        targets: ['db', 'web'],
        requestedBy: { id: 'cli:bob', name: 'bob' },
        source: 'cli',
      }),
    );
    const c = requestFingerprint(parseRunRequest({ ...base, targets: ['web'] }));
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });
});

describe('the monitor configuration', () => {
  it('defaults, and names the variable of a bad value', async () => {
    const { monitorConfig } = await import('../../src/orchestration/monitor/monitor-config.js');
    expect(monitorConfig({})).toEqual({
      interval: 60,
      failureThreshold: 3,
      successThreshold: 2,
      flapWindow: 900,
      flake: null,
    });
    expect(monitorConfig({ LAB_MONITOR_INTERVAL: '0', LAB_FLAKE: '/etc/homelab' })).toMatchObject({
      interval: 0,
      flake: '/etc/homelab',
    });
    expect(() => monitorConfig({ LAB_MONITOR_INTERVAL: '-1' })).toThrow(
      'invalid environment: LAB_MONITOR_INTERVAL: must be 0 (off) or at least 1 (seconds)',
    );
    expect(() => monitorConfig({ LAB_MONITOR_INTERVAL: '1.5' })).toThrow(
      'LAB_MONITOR_INTERVAL: must be whole seconds',
    );
    expect(() => monitorConfig({ LAB_MONITOR_FAILURES: '0' })).toThrow(
      'LAB_MONITOR_FAILURES: must be at least 1',
    );
    expect(() => monitorConfig({ LAB_MONITOR_SUCCESSES: 'two' })).toThrow(
      /^invalid environment: LAB_MONITOR_SUCCESSES: /,
    );
  });
});
