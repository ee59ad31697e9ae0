import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WatchEvent } from '../../src/domain/monitor/machine-watch.js';
import { HealthMonitor } from '../../src/orchestration/monitor/health-monitor.js';
import { MonitorClient } from '../../src/orchestration/monitor/monitor-client.js';
import { monitorConfig } from '../../src/orchestration/monitor/monitor-config.js';
import type { LabWorker } from '../../src/orchestration/queue/run-worker.js';
import { loadSshCredentials } from '../../src/transport/ssh/ssh-credentials.js';
import { SshPool } from '../../src/transport/ssh/ssh-pool.js';
import type { Homelab } from '../sim/homelab.js';
import { monitoredMachines, startTestHomelab } from '../support/homelabs.js';
import { followRun, queueClient, queueEnv, startWorker } from '../support/queue.js';
import { runLab } from '../support/run-cli.js';

let lab: Homelab;
const started: { worker: LabWorker; monitor: HealthMonitor | null }[] = [];

beforeAll(async () => {
  lab = await startTestHomelab({
    db: monitoredMachines.db,
    web: { ...monitoredMachines.web, groups: ['front'] },
    quiet: { role: 'spare', rebootOrder: 3, monitor: { enable: false } },
  });
});

afterEach(async () => {
  for (const { worker, monitor } of started.splice(0)) {
    await monitor?.stop();
    await worker.stop();
  }
  lab.machine('db').startService(5432);
  lab.machine('web').startService(8080);
});

afterAll(async () => {
  await lab?.stop();
});

/** A worker with its monitor, as `lab worker` starts them (failures 2, successes 2). */
async function startMonitoredWorker(env: Record<string, string>, name: string) {
  const worker = await startWorker(lab, env, name);
  const credentials = await loadSshCredentials(
    { keyPath: lab.keyPath, knownHostsPath: lab.knownHostsPath },
    {},
  );
  const monitor = await HealthMonitor.start({
    config: monitorConfig({ ...env, LAB_FLAKE: lab.flake }),
    runs: worker.runs,
    readInventory: (flake) => worker.processor.readInventory(flake),
    pool: new SshPool(credentials),
    name,
  });
  started.push({ worker, monitor });
  return { worker, monitor: monitor as HealthMonitor };
}

const monitorEnv = () =>
  queueEnv({ LAB_MONITOR_FAILURES: '2', LAB_MONITOR_SUCCESSES: '2', LAB_FLAKE: 'unused-see-start' });

async function until<T>(
  check: () => Promise<T | null | undefined | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const alerts = (events: WatchEvent[]) => events.filter((event) => event.type !== 'monitor.status');

describe('the monitor', () => {
  it('reports a stopped service once after the threshold, and its recovery; a new monitor after a restart does not report it again', async () => {
    const env = monitorEnv();
    const { monitor } = await startMonitoredWorker(env, 'w1');
    let store = monitor.store;
    await until(async () => (await store.watch('db'))?.status === 'healthy', 20_000, 'db healthy');
    expect(await store.watch('quiet')).toBeNull();

    lab.machine('db').stopService(5432);
    const alert = await until(
      async () => alerts(await store.events()).find((event) => event.type === 'monitor.alert'),
      20_000,
      'the alert',
    );
    expect(alert).toMatchObject({
      type: 'monitor.alert',
      machine: 'db',
      status: 'unhealthy',
      checks: [{ name: 'tcp 5432', ok: false }],
    });
    expect(alert.type === 'monitor.alert' && alert.reason).toMatch(/^tcp 5432 \(.+\)$/);

    // The worker (and its monitor) restarts while db is still down: the state is in Redis.
    const first = started.splice(0);
    for (const { worker, monitor: old } of first) {
      await old?.stop();
      await worker.stop();
    }
    const again = await startMonitoredWorker(env, 'w2');
    store = again.monitor.store;
    const checksBefore = (await store.watch('db'))?.checks ?? 0;
    await until(
      async () => ((await again.monitor.store.watch('db'))?.checks ?? 0) >= checksBefore + 3,
      20_000,
      'more checks',
    );
    expect(alerts(await store.events()).map((event) => event.type)).toEqual(['monitor.alert']);

    lab.machine('db').startService(5432);
    const recovered = await until(
      async () => (await store.events()).find((event) => event.type === 'monitor.recovered'),
      20_000,
      'the recovery',
    );
    expect(recovered).toMatchObject({ machine: 'db', incident: alert.incident, since: alert.since });
    expect(alerts(await store.events()).map((event) => event.type)).toEqual([
      'monitor.alert',
      'monitor.recovered',
    ]);
  });

  it('with two workers, checks each machine once per interval in all', async () => {
    const env = monitorEnv();
    const a = await startMonitoredWorker(env, 'a');
    await startMonitoredWorker(env, 'b');
    const checks = async () => (await a.monitor.store.watch('web'))?.checks ?? 0;
    await until(async () => (await checks()) >= 1, 20_000, 'a first check');
    const from = await checks();
    const t0 = Date.now();
    await until(async () => (await checks()) >= from + 5, 30_000, 'five more checks');
    // Five checks at an interval of 1 s take about 5 s; a clock per worker would take half that.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4_000);
  });

  it('a silence (for a group) raises no alert; the machine is shown silenced, with who and why', async () => {
    const env = monitorEnv();
    const { worker, monitor } = await startMonitoredWorker(env, 'w');
    const client = new MonitorClient(worker.runs);
    const inventory = await worker.processor.readInventory(lab.flake);
    await expect(
      client.silence(
        { target: 'nope', duration: '1h', reason: 'x', by: { id: 'cli:t', name: 't' } },
        inventory,
      ),
    ).rejects.toThrow("unknown machine 'nope'");
    await expect(
      client.silence(
        { target: 'web', duration: '1 hour', reason: 'x', by: { id: 'cli:t', name: 't' } },
        inventory,
      ),
    ).rejects.toThrow("duration: '1 hour' is not a duration");
    const silence = await client.silence(
      {
        target: '@front',
        duration: '1h',
        reason: 'replacing the disk',
        by: { id: 'cli:alice', name: 'alice' },
      },
      inventory,
    );
    await until(async () => (await monitor.store.watch('web'))?.status === 'healthy', 20_000, 'web healthy');
    lab.machine('web').stopService(8080);
    await until(
      async () => (await monitor.store.watch('web'))?.status === 'unhealthy',
      20_000,
      'web unhealthy',
    );
    const checks = (await monitor.store.watch('web'))?.checks ?? 0;
    await until(
      async () => ((await monitor.store.watch('web'))?.checks ?? 0) >= checks + 2,
      20_000,
      'more checks',
    );
    expect(alerts(await monitor.store.events())).toEqual([]);
    const rows = await client.rows(inventory, monitorConfig({ ...env, LAB_FLAKE: lab.flake }));
    expect(rows.map((row) => [row.machine, row.view, row.silence?.id ?? null])).toEqual([
      ['db', 'healthy', null],
      ['quiet', 'not monitored', null],
      ['web', 'silenced', silence.id],
    ]);
    // Removed, the silence no longer holds the alert back.
    await client.unsilence(silence.id);
    await until(
      async () => alerts(await monitor.store.events()).find((event) => event.type === 'monitor.alert'),
      20_000,
      'the alert once the silence is gone',
    );
    await expect(client.unsilence(silence.id)).rejects.toThrow(`no silence ${silence.id}`);
  });

  it('leaves a machine that a reboot run handles to the run, and watches it again after', async () => {
    const env = monitorEnv();
    const { monitor } = await startMonitoredWorker(env, 'w');
    await until(async () => (await monitor.store.watch('db'))?.status === 'healthy', 20_000, 'db healthy');
    // A slow boot: the machine is down for several monitor intervals.
    lab.machine('db').setDelays({ bootMs: 4_000 });
    const { runs } = await queueClient(env);
    try {
      const submitted = await runs.submit({
        kind: 'reboot',
        flake: lab.flake,
        targets: ['db'],
        requestedBy: { id: 'cli:t', name: 't' },
        source: 'cli',
      });
      // While the run goes on, the monitor notes that the run has the machine (and checks nothing).
      const seen = new Set<string | null>();
      const watching = setInterval(() => {
        void monitor.store.watch('db').then((watch) => seen.add(watch?.run ?? null));
      }, 50);
      const events = await followRun(runs, submitted.runId).finally(() => clearInterval(watching));
      expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
      expect(seen).toContain(submitted.runId);
      const checks = (await monitor.store.watch('db'))?.checks ?? 0;
      await until(
        async () => ((await monitor.store.watch('db'))?.checks ?? 0) >= checks + 2,
        20_000,
        'checks after the run',
      );
      expect(await monitor.store.watch('db')).toMatchObject({ status: 'healthy', run: null });
      expect(alerts(await monitor.store.events())).toEqual([]);
    } finally {
      lab.machine('db').setDelays({ bootMs: 0 });
      await runs.close();
    }
  });

  it('in the terminal: lab silence refuses an unknown machine, lab silences lists who and why, lab status shows the monitor view', async () => {
    const env = monitorEnv();
    const { monitor } = await startMonitoredWorker(env, 'w');
    for (const name of ['db', 'web'])
      await until(
        async () => (await monitor.store.watch(name))?.status === 'healthy',
        20_000,
        `${name} healthy`,
      );
    const cli = { ...env, LAB_FLAKE: lab.flake };
    const unknown = await runLab(['silence', 'dbx', '1h', 'typo'], cli);
    expect(unknown.exitCode).toBe(64);
    expect(unknown.stderr).toContain("lab: unknown machine 'dbx' (machines: db, quiet, web");
    const bad = await runLab(['silence', 'db', 'soon', 'x'], cli);
    expect({ exitCode: bad.exitCode, stderr: bad.stderr }).toEqual({
      exitCode: 64,
      stderr: "lab: duration: 'soon' is not a duration (e.g. 30m, 2h, 1h30m, 1d; at most 4w)\n",
    });
    const made = await runLab(['silence', 'db', '30m', 'moving', 'the', 'rack', '--as', 'alice'], cli);
    expect(made.exitCode, made.stderr).toBe(0);
    const id = /silence (\w+)\.$/.exec(made.stdout.trim())?.[1] as string;
    const listed = await runLab(['silences'], cli);
    expect(listed.stdout).toMatch(
      new RegExp(`^${id}\\s+db\\s+(30m|29m \\d+s)\\s+alice\\s+moving the rack$`, 'm'),
    );
    const status = await runLab(['status', '--json'], cli);
    const document = JSON.parse(status.stdout) as {
      monitor: { machines: { name: string; status: string; silence: string | null }[] };
    };
    expect(document.monitor.machines.map((m) => [m.name, m.status, m.silence])).toEqual([
      ['db', 'silenced', id],
      ['quiet', 'not monitored', null],
      ['web', 'healthy', null],
    ]);
    const text = await runLab(['status'], cli);
    expect(text.stdout).toMatch(/^MACHINE\s+MONITOR\s+SINCE\s+CHECKED\s+DETAIL$/m);
    expect(text.stdout).toMatch(/^db\s+silenced\s+.+moving the rack \(by alice, .+ left\)$/m);
    expect((await runLab(['unsilence', id], cli)).stdout).toBe(
      `Removed silence ${id} of db (moving the rack).\n`,
    );
    expect((await runLab(['unsilence', id], cli)).exitCode).toBe(64);
  });

  it('a machine that stops answering (frozen) counts as failing within its deadline; the monitor goes on with the others', async () => {
    const env = monitorEnv();
    const { monitor } = await startMonitoredWorker(env, 'w');
    await until(async () => (await monitor.store.watch('web'))?.status === 'healthy', 20_000, 'web healthy');
    lab.machine('web').freeze(true);
    try {
      const frozenAt = Date.now();
      const alert = await until(
        async () =>
          alerts(await monitor.store.events()).find((e) => e.type === 'monitor.alert' && e.machine === 'web'),
        60_000,
        'the alert of the frozen web',
      );
      expect(alert.type === 'monitor.alert' && alert.reason).toMatch(
        /no answer within|unreachable|timed out/,
      );
      // db, meanwhile, was checked as usual.
      const db = await monitor.store.watch('db');
      expect(db?.status).toBe('healthy');
      expect(db?.last?.at).toBeGreaterThan(frozenAt);
    } finally {
      lab.machine('web').freeze(false);
    }
    await until(
      async () => (await monitor.store.watch('web'))?.status === 'healthy',
      60_000,
      'web healthy again',
    );
  });
});
