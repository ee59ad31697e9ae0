import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { monitorSettingsOf } from '../domain/monitor/monitor-settings.js';
import { silenceFor } from '../domain/monitor/silence.js';
import type { MonitorConfig } from '../orchestration/monitor/monitor-config.js';
import { MonitorStore } from '../orchestration/monitor/monitor-store.js';
import type { RunQueue } from '../orchestration/queue/run-queue.js';
import type { RunJobData } from '../orchestration/queue/run-request.js';
import type { RunEvent } from '../orchestration/run-events.js';

/**
 * lab's Prometheus metrics, read from what lab already keeps: the monitor's state in Redis (at
 * each scrape), the queue's jobs, and the run events as they happen (durations, finished runs).
 * Nothing in the domain knows Prometheus.
 */
export class LabMetrics {
  readonly registry = new Registry();
  private readonly store: MonitorStore;
  private readonly kinds = new Map<string, string>();
  private readonly runsFinished: Counter<'kind' | 'status'>;
  private readonly runDuration: Histogram<'kind' | 'status'>;
  private readonly stepDuration: Histogram<'kind' | 'what'>;
  private readonly stepFailures: Counter<'kind' | 'phase'>;
  private readonly machineGauges: Parameters<LabMetrics['collectMachines']>[0];
  private following: Promise<void> | null = null;
  private readonly stopping = new AbortController();
  private blocking: Redis | null = null;

  constructor(
    private readonly runs: RunQueue,
    private readonly monitor: MonitorConfig,
    private readonly log?: Logger,
    /** SSH connections the monitor has opened (its pool's count), when this process monitors. */
    sshOpened?: () => number,
  ) {
    this.store = new MonitorStore(runs.redis, runs.keys);
    const registers = [this.registry];
    const metrics = this;
    const up = new Gauge({
      name: 'lab_machine_up',
      help: 'Whether lab reached the machine over SSH at its last monitor check (1) or not (0).',
      labelNames: ['machine'],
      registers,
    });
    const healthy = new Gauge({
      name: 'lab_machine_healthy',
      help: 'The monitor’s thresholded view: 1 healthy, 0 unhealthy or unreachable (absent until checked).',
      labelNames: ['machine'],
      registers,
    });
    const status = new Gauge({
      name: 'lab_machine_monitor_status',
      help: 'The monitor’s view of each machine: 1 for its current status (healthy, unhealthy, unreachable, unknown, in a run, silenced, not monitored).',
      labelNames: ['machine', 'status'],
      registers,
    });
    const checkUp = new Gauge({
      name: 'lab_health_check_up',
      help: 'Result of each health check at the machine’s last monitor check: 1 passed, 0 failed.',
      labelNames: ['machine', 'check'],
      registers,
    });
    const checkLatency = new Gauge({
      name: 'lab_health_check_latency_seconds',
      help: 'Latency of each health check at the machine’s last monitor check.',
      labelNames: ['machine', 'check'],
      registers,
    });
    const lastCheck = new Gauge({
      name: 'lab_machine_last_check_timestamp_seconds',
      help: 'When the monitor last checked the machine (Unix time).',
      labelNames: ['machine'],
      registers,
    });
    this.machineGauges = { up, healthy, status, checkUp, checkLatency, lastCheck };
    const activeRuns = new Gauge({
      name: 'lab_runs_active',
      help: 'Runs not finished yet, by kind and status (running, halted, pending).',
      labelNames: ['kind', 'status'],
      registers,
      async collect() {
        this.reset();
        for (const [labels, count] of await metrics.activeRuns()) this.set(labels, count);
      },
    });
    void activeRuns;
    new Gauge({
      name: 'lab_queue_jobs',
      help: 'Jobs in lab’s BullMQ queues by state: the runs’ queue and the monitor’s.',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        const queues = [
          ['runs', metrics.runs.queue],
          ['monitor', null],
        ] as const;
        for (const [name, queue] of queues) {
          const counts = queue
            ? await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized')
            : await metrics.monitorQueueCounts();
          for (const [state, count] of Object.entries(counts)) this.set({ queue: name, state }, count);
        }
      },
    });
    if (sshOpened)
      new Counter({
        name: 'lab_monitor_ssh_connections_opened_total',
        help: 'SSH connections (handshakes) the monitor of this process has opened; each is reused for every check of its machine.',
        registers,
        collect() {
          this.reset();
          this.inc(sshOpened());
        },
      });
    this.runsFinished = new Counter({
      name: 'lab_runs_finished_total',
      help: 'Runs finished since this process started, by kind and status.',
      labelNames: ['kind', 'status'],
      registers,
    });
    this.runDuration = new Histogram({
      name: 'lab_run_duration_seconds',
      help: 'Duration of finished runs (run.started to run.finished), by kind and status.',
      labelNames: ['kind', 'status'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
      registers,
    });
    this.stepDuration = new Histogram({
      name: 'lab_machine_step_duration_seconds',
      help: 'How long a machine’s reboot or deploy took in a run (machine.succeeded’s durationMs).',
      labelNames: ['kind', 'what'],
      buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800],
      registers,
    });
    this.stepFailures = new Counter({
      name: 'lab_machine_step_failures_total',
      help: 'Machine steps that failed in a run, by kind and phase.',
      labelNames: ['kind', 'phase'],
      registers,
    });
  }

  /** The text a scrape gets: the machines' gauges read from Redis now, then every metric. */
  async render(): Promise<string> {
    await this.collectMachines(this.machineGauges);
    return this.registry.metrics();
  }

  /** Follows every run's event from now on, for the run metrics. */
  start(): void {
    this.following ??= this.follow().catch((error: Error) => {
      if (!this.stopping.signal.aborted)
        this.log?.error({ err: error }, `metrics: following runs failed: ${error.message}`);
    });
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.blocking?.disconnect();
    await this.following;
  }

  /** Counts one run event (exported for tests of the mapping). */
  async count(event: RunEvent): Promise<void> {
    if (event.type === 'run.started') this.kinds.set(event.runId, event.kind);
    if (
      event.type !== 'run.finished' &&
      event.type !== 'machine.succeeded' &&
      event.type !== 'machine.failed'
    )
      return;
    const kind = await this.kindOf(event.runId);
    if (event.type === 'run.finished') {
      this.runsFinished.inc({ kind, status: event.status });
      this.runDuration.observe({ kind, status: event.status }, event.elapsedMs / 1000);
      this.kinds.delete(event.runId);
    } else if (event.type === 'machine.succeeded')
      this.stepDuration.observe({ kind, what: event.what }, event.durationMs / 1000);
    else this.stepFailures.inc({ kind, phase: event.phase });
  }

  private async follow(): Promise<void> {
    const { signal } = this.stopping;
    while (!signal.aborted) {
      this.blocking = this.runs.duplicateConnection('lab-metrics-events');
      try {
        for await (const event of this.runs.events.all(this.blocking, signal)) await this.count(event);
      } catch (error) {
        if (signal.aborted) return;
        this.log?.warn({ err: error }, `metrics: run events: ${(error as Error).message}; following again`);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      } finally {
        this.blocking.disconnect();
      }
    }
  }

  private async kindOf(runId: string): Promise<string> {
    const known = this.kinds.get(runId);
    if (known) return known;
    const job = await this.runs.job(runId).catch(() => null);
    return job?.data.state.kind ?? 'unknown';
  }

  private async activeRuns(): Promise<Map<{ kind: string; status: string }, number>> {
    const jobs = (await this.runs.queue.getJobs(
      ['active', 'delayed', 'waiting', 'prioritized'],
      0,
      999,
    )) as Job<RunJobData>[];
    const counts = new Map<string, number>();
    for (const job of jobs) {
      if (!job?.data?.state) continue;
      const key = `${job.data.state.kind}\u0000${job.data.state.status}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return new Map(
      [...counts].map(([key, count]) => {
        const [kind, status] = key.split('\u0000') as [string, string];
        return [{ kind, status }, count];
      }),
    );
  }

  private async monitorQueueCounts(): Promise<Record<string, number>> {
    // The monitor's queue, read without a Queue object of its own: its state lists' lengths.
    const base = `bull:${this.runs.keys.monitorQueue}`;
    const redis = this.runs.redis;
    const [waiting, active, delayed, failed, prioritized] = await Promise.all([
      redis.llen(`${base}:wait`),
      redis.llen(`${base}:active`),
      redis.zcard(`${base}:delayed`),
      redis.zcard(`${base}:failed`),
      redis.zcard(`${base}:prioritized`),
    ]);
    return { waiting, active, delayed, failed, prioritized };
  }

  private async collectMachines(gauges: {
    up: Gauge<'machine'>;
    healthy: Gauge<'machine'>;
    status: Gauge<'machine' | 'status'>;
    checkUp: Gauge<'machine' | 'check'>;
    checkLatency: Gauge<'machine' | 'check'>;
    lastCheck: Gauge<'machine'>;
  }): Promise<void> {
    for (const gauge of Object.values(gauges)) gauge.reset();
    const watches = await this.store.watches();
    const silences = await this.store.silences();
    const inventory = this.monitor.flake ? await this.runs.cachedInventory(this.monitor.flake) : null;
    const machines =
      inventory?.machines ?? [...watches.keys()].map((name) => ({ name, groups: [] as string[] }));
    for (const machine of machines) {
      const watch = watches.get(machine.name) ?? null;
      const monitored = 'healthChecks' in machine ? monitorSettingsOf(machine, this.monitor) !== null : true;
      const silenced = silenceFor(silences, machine, Date.now()) !== null;
      const view = !monitored
        ? 'not monitored'
        : watch?.run
          ? 'in a run'
          : silenced
            ? 'silenced'
            : (watch?.status ?? 'unknown');
      gauges.status.set({ machine: machine.name, status: view }, 1);
      if (!watch?.last) continue;
      gauges.up.set({ machine: machine.name }, watch.last.reachable ? 1 : 0);
      gauges.lastCheck.set({ machine: machine.name }, watch.last.at / 1000);
      if (watch.status === 'healthy') gauges.healthy.set({ machine: machine.name }, 1);
      else if (watch.status !== 'unknown') gauges.healthy.set({ machine: machine.name }, 0);
      for (const check of watch.last.checks) {
        gauges.checkUp.set({ machine: machine.name, check: check.name }, check.ok ? 1 : 0);
        gauges.checkLatency.set({ machine: machine.name, check: check.name }, check.latencyMs / 1000);
      }
    }
  }
}
