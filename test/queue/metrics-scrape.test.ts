import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabMetrics } from '../../src/metrics/lab-metrics.js';
import { MetricsServer } from '../../src/metrics/metrics-server.js';
import { monitorConfig } from '../../src/orchestration/monitor/monitor-config.js';
import { queueConfig } from '../../src/orchestration/queue/queue-config.js';
import { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import { type RedisServer, startRedisServer } from '../support/redis-server.js';

/** A scrape deadline short enough for a test (the server's default is 5 s). */
const DEADLINE_MS = 500;

// A redis-server of its own: this test freezes it.
let redis: RedisServer;
let runs: RunQueue;
let metrics: LabMetrics;
let server: MetricsServer;

beforeAll(async () => {
  redis = await startRedisServer();
  runs = await RunQueue.connect(queueConfig({ REDIS_URL: redis.url, LAB_QUEUE: 'metrics-scrape' }), 'test');
  metrics = new LabMetrics(runs, monitorConfig({}));
  server = await MetricsServer.start(metrics, { host: '127.0.0.1', port: 0 }, undefined, DEADLINE_MS);
});

afterAll(async () => {
  redis?.freeze(false);
  await server?.stop();
  await metrics?.stop();
  await runs?.close();
  await redis?.stop();
});

describe('the metrics endpoint when Redis does not answer', () => {
  it('answers 503 naming Redis within its deadline, and 200 again once Redis answers', async () => {
    const healthy = await fetch(server.url);
    expect(healthy.status).toBe(200);
    expect(await healthy.text()).toContain('lab_queue_jobs{queue="runs",state="waiting"} 0');

    redis.freeze(true);
    const started = Date.now();
    const frozen = await fetch(server.url);
    const took = Date.now() - started;
    expect(frozen.status).toBe(503);
    expect(frozen.headers.get('retry-after')).toBe('10');
    expect(await frozen.text()).toBe(
      'lab: Redis did not answer within 0.5 s; the metrics are read from it\n',
    );
    expect(took).toBeGreaterThanOrEqual(DEADLINE_MS);

    redis.freeze(false);
    const again = await fetch(server.url);
    expect(again.status).toBe(200);
    expect(await again.text()).toContain('lab_queue_jobs{queue="runs",state="waiting"} 0');
  });
});
