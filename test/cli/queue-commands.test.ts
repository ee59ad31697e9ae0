import { beforeAll, describe, expect, inject, it } from 'vitest';
import { copyFixture } from '../support/flake-fixtures.js';
import { queueEnv } from '../support/queue.js';
import { startRedisServer } from '../support/redis-server.js';
import { runLab } from '../support/run-cli.js';

let flake: string;
beforeAll(async () => {
  flake = await copyFixture('homelab');
});

describe('queue commands without their services', () => {
  it('say where Redis was looked for when it does not answer', async () => {
    const result = await runLab(['status'], { REDIS_URL: 'redis://:secret@127.0.0.1:1' });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      /^lab: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1: .*set REDIS_URL\)\n$/,
    );
    expect(result.stderr).not.toContain('secret');
  });

  it('refuse to queue a run when no worker listens, instead of waiting forever', async () => {
    const result = await runLab(['reboot', '--all', '--queue', '--flake', flake], queueEnv());
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      /no lab worker is connected to queue test-\w+ .*start one with `lab worker`/,
    );
  });

  it('refuse --yes with --queue: approvals are the policy of the queue', async () => {
    const result = await runLab(['reboot', '--all', '--queue', '--yes', '--flake', flake], queueEnv());
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toContain('--yes cannot skip the approvals of a queued run');
  });

  it('refuse --in-window with --force-window, for reboots and deploys, before touching anything', async () => {
    for (const command of ['reboot', 'deploy']) {
      const result = await runLab([command, '--all', '--in-window', '--force-window', '--flake', flake], {});
      expect(result.exitCode, command).toBe(64);
      expect(result.stderr).toBe('lab: --in-window and --force-window contradict each other: choose one\n');
    }
  });

  it('name an unknown run', async () => {
    const env = queueEnv();
    for (const command of [
      ['status', 'nosuchrun'],
      ['cancel', 'nosuchrun'],
      ['approve', 'nosuchrun', 'web'],
    ]) {
      const result = await runLab(command, env);
      expect(result.stderr).toMatch(/^lab: no run nosuchrun in queue test-\w+ \(lab status lists runs\)\n$/);
      expect(result.exitCode).toBe(64);
    }
  });

  it('list no runs on an empty queue, in text and JSON', async () => {
    const env = queueEnv();
    expect((await runLab(['status'], env)).stdout).toBe('No runs.\n');
    expect(JSON.parse((await runLab(['status', '--json'], env)).stdout)).toEqual({ runs: [] });
  });

  it('reject an invalid queue configuration, naming the variable', async () => {
    const result = await runLab(['status'], { REDIS_URL: inject('redisUrl'), LAB_APPROVALS_CRITICAL: 'two' });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/^lab: invalid environment: LAB_APPROVALS_CRITICAL: /);
  });
});

describe('Redis on a unix socket (REDIS_URL=unix:///path)', () => {
  it('is reached through the socket, and a missing socket is named at once', async () => {
    const redis = await startRedisServer({ unixSocket: true });
    try {
      expect(redis.url).toMatch(/^unix:\/\/\/.*redis\.sock$/);
      const env = { ...queueEnv(), REDIS_URL: redis.url };
      const result = await runLab(['status', '--json'], env);
      expect(result.stderr).toBe('');
      expect(JSON.parse(result.stdout)).toEqual({ runs: [] });
    } finally {
      await redis.stop();
    }
    const started = Date.now();
    const gone = await runLab(['status'], { REDIS_URL: redis.url });
    expect(gone.exitCode).toBe(1);
    expect(gone.stderr).toContain(`lab: cannot reach Redis at ${redis.url}: `);
    // ENOENT is not worth retrying for the whole connect timeout (5 s).
    expect(Date.now() - started).toBeLessThan(4_000);
  });
});
