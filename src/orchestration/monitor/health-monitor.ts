import { randomBytes } from 'node:crypto';
import { type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { checkMachine } from '../../domain/health/check-machine.js';
import type { MachineHealth } from '../../domain/health/check-result.js';
import type { Inventory, Machine } from '../../domain/inventory/schema.js';
import {
  heldByRun,
  newWatch,
  observation,
  observe,
  type WatchEvent,
} from '../../domain/monitor/machine-watch.js';
import { checkDeadlineMs, monitorSettingsOf } from '../../domain/monitor/monitor-settings.js';
import { silenceFor } from '../../domain/monitor/silence.js';
import { canPower } from '../../domain/power/power-steps.js';
import { defaultSshTimeouts } from '../../transport/ssh/ssh-connection.js';
import type { SshPool } from '../../transport/ssh/ssh-pool.js';
import { withDeadline } from '../../util/deadline.js';
import { Leases } from '../queue/lease.js';
import { isActive, type RunQueue } from '../queue/run-queue.js';
import type { MonitorConfig } from './monitor-config.js';
import { MonitorStore } from './monitor-store.js';

/** The monitor queue's job names: a machine's check, and the re-reading of which machines to watch. */
export const MONITOR_JOB = { check: 'check', sync: 'sync' } as const;

/** Job scheduler ids: one per watched machine, and the sync. */
export const checkSchedulerId = (machine: string) => `check:${machine}`;
export const SYNC_SCHEDULER_ID = 'sync';
/** How often the workers re-read the flake for machines to watch (also at every start). */
export const SYNC_INTERVAL_MS = 60_000;

/** What a check job returns (and `Check now` shows). */
export interface CheckOutcome {
  readonly machine: string;
  /** `checked`, or why not: a run has it, another worker is checking it, it is not watched. */
  readonly result: 'checked' | 'in a run' | 'being checked' | 'not watched';
  readonly health: MachineHealth | null;
  readonly run: string | null;
  readonly status: string | null;
}

export interface HealthMonitorOptions {
  readonly config: MonitorConfig;
  readonly runs: RunQueue;
  /** The flake's machines, read (and cached in Redis) as the worker reads them for runs. */
  readonly readInventory: (flake: string) => Promise<Inventory>;
  /** Kept for the monitor's life: one connection per machine, reused by every check. */
  readonly pool: SshPool;
  readonly name?: string;
  readonly concurrency?: number;
  readonly log?: Logger;
  /** Called with every event recorded (for metrics and logs in this process). */
  readonly onEvents?: (events: readonly WatchEvent[]) => void;
}

/**
 * The monitor between runs, in every `lab worker` and `lab serve`: each watched machine has a
 * BullMQ job scheduler on the monitor queue, so with any number of workers it is checked once
 * per its interval in all (whichever worker takes the job), with no clock of lab's own. A check
 * is `lab health`'s, over the worker's pooled connection; thresholds (machine-watch.ts) decide,
 * and the state and events go to Redis together (MonitorStore). Machines a run holds are left
 * to the run.
 */
export class HealthMonitor {
  readonly store: MonitorStore;
  private readonly leases: Leases;
  private readonly id = randomBytes(6).toString('hex');

  private constructor(
    private readonly options: HealthMonitorOptions & { readonly flake: string },
    readonly queue: Queue,
    private readonly worker: Worker,
    private readonly connections: readonly Redis[],
  ) {
    this.store = new MonitorStore(options.runs.redis, options.runs.keys);
    this.leases = new Leases(options.runs.redis);
  }

  /**
   * Starts watching (null when the monitor is off: LAB_MONITOR_INTERVAL=0 — then this worker's
   * schedulers are removed — or no LAB_FLAKE to watch).
   */
  static async start(options: HealthMonitorOptions): Promise<HealthMonitor | null> {
    const { config, runs } = options;
    if (config.flake === null) return null;
    const queueConnection = runs.duplicateConnection('lab-monitor-queue');
    const queue = new Queue(runs.keys.monitorQueue, { connection: queueConnection });
    if (config.interval === 0) {
      for (const scheduler of await queue.getJobSchedulers())
        if (scheduler.key) await queue.removeJobScheduler(scheduler.key);
      await queue.close();
      queueConnection.disconnect();
      return null;
    }
    const jobs = runs.duplicateConnection('lab-monitor-jobs');
    let monitor: HealthMonitor | null = null;
    const worker = new Worker(runs.keys.monitorQueue, (job: Job) => (monitor as HealthMonitor).process(job), {
      connection: jobs,
      name: options.name,
      concurrency: options.concurrency ?? 16,
      autorun: false,
    });
    worker.on('error', (error) => options.log?.error({ err: error }, `monitor worker: ${error.message}`));
    worker.on('failed', (job, error) =>
      options.log?.warn(
        { err: error, job: job?.name, machine: job?.data?.machine },
        `monitor ${job?.name} failed: ${error.message}`,
      ),
    );
    monitor = new HealthMonitor({ ...options, flake: config.flake }, queue, worker, [queueConnection, jobs]);
    await queue.upsertJobScheduler(
      SYNC_SCHEDULER_ID,
      { every: SYNC_INTERVAL_MS },
      { name: MONITOR_JOB.sync, opts: { removeOnComplete: true, removeOnFail: { count: 10 } } },
    );
    // The machines to watch are read once before any check, so a start shows them at once.
    await monitor
      .sync()
      .catch((error: Error) =>
        options.log?.error({ err: error }, `monitor: reading ${config.flake} failed: ${error.message}`),
      );
    void worker.run();
    await worker.waitUntilReady();
    return monitor;
  }

  async stop(): Promise<void> {
    await this.worker.close();
    await this.queue.close();
    for (const connection of this.connections) connection.disconnect();
    await this.options.pool.closeAll();
  }

  private process = async (job: Job): Promise<unknown> => {
    if (job.name === MONITOR_JOB.sync) return this.sync();
    if (job.name === MONITOR_JOB.check) return this.check((job.data as { machine: string }).machine);
    throw new Error(`unknown monitor job ${job.name}`);
  };

  /**
   * Reads the flake and makes the schedulers match it: one per watched machine at its interval;
   * those of machines gone or opted out are removed, and so is their state.
   */
  async sync(): Promise<{ watched: string[] }> {
    const inventory = await this.options.readInventory(this.options.flake);
    const wanted = new Map<string, number>();
    for (const machine of inventory.machines) {
      const settings = monitorSettingsOf(machine, this.options.config);
      if (settings) wanted.set(machine.name, settings.intervalMs);
    }
    const existing = await this.queue.getJobSchedulers();
    for (const scheduler of existing) {
      const machine = scheduler.key?.startsWith('check:') ? scheduler.key.slice('check:'.length) : null;
      if (machine === null) continue;
      if (!wanted.has(machine)) await this.queue.removeJobScheduler(scheduler.key);
      else if (Number(scheduler.every) === wanted.get(machine)) wanted.set(machine, -1);
    }
    for (const [machine, every] of wanted) {
      if (every < 0) continue;
      await this.queue.upsertJobScheduler(
        checkSchedulerId(machine),
        { every },
        {
          name: MONITOR_JOB.check,
          data: { machine },
          opts: { removeOnComplete: true, removeOnFail: { count: 100 } },
        },
      );
    }
    const known = [...(await this.store.watches()).keys()];
    const watched = inventory.machines.filter((machine) => monitorSettingsOf(machine, this.options.config));
    await this.store.forget(known.filter((name) => !watched.some((machine) => machine.name === name)));
    return { watched: watched.map((machine) => machine.name) };
  }

  /** One check of the machine, recorded with what the thresholds make of it. */
  async check(name: string): Promise<CheckOutcome> {
    const { runs, config } = this.options;
    const machine = await this.machine(name);
    const settings = machine ? monitorSettingsOf(machine, config) : null;
    if (!machine || !settings)
      return { machine: name, result: 'not watched', health: null, run: null, status: null };
    const deadlineMs = checkDeadlineMs(machine, defaultSshTimeouts.connectMs);
    const lease = runs.keys.monitorCheck(name);
    if (!(await this.leases.acquire(lease, this.id, deadlineMs + 5_000)))
      return { machine: name, result: 'being checked', health: null, run: null, status: null };
    try {
      const before = (await this.store.watch(name)) ?? newWatch(name);
      const holding = await this.runHolding(name);
      if (holding) {
        await this.store.record(heldByRun(before, holding), []);
        return { machine: name, result: 'in a run', health: null, run: holding, status: before.status };
      }
      const at = Date.now();
      const health = await checkWithin(checkMachine(this.options.pool, machine), deadlineMs, name);
      // A run that took the machine meanwhile may have made this check fail: it is the run's now.
      const holdingNow = await this.runHolding(name);
      if (holdingNow) {
        await this.store.record(heldByRun(before, holdingNow), []);
        return { machine: name, result: 'in a run', health, run: holdingNow, status: before.status };
      }
      const silence = silenceFor(await this.store.silences(), machine, Date.now());
      const observed = observe(before, observation(health, at), settings.thresholds, {
        silence: silence?.id ?? null,
      });
      const { watch } = observed;
      // An alert says whether the machine can be power-cycled (its Discord alert then offers it).
      const powerCycle = canPower(machine, 'cycle');
      const events = observed.events.map((event) =>
        event.type === 'monitor.alert' || event.type === 'monitor.reopened'
          ? { ...event, powerCycle }
          : event,
      );
      await this.store.record(watch, events);
      this.report(events);
      return { machine: name, result: 'checked', health, run: null, status: watch.status };
    } finally {
      await this.leases.release([lease], this.id);
    }
  }

  /** The machine as the last inventory read has it (read again when there is none yet). */
  private async machine(name: string): Promise<Machine | undefined> {
    const { runs, flake } = this.options;
    const cached = await runs.cachedInventory(flake);
    const inventory = cached ?? (await this.options.readInventory(flake));
    return inventory.machines.find((machine) => machine.name === name);
  }

  /** The active run holding the machine's lock, if any (a lock of a run that is gone is not one). */
  private async runHolding(machine: string): Promise<string | null> {
    const { runs } = this.options;
    const holder = await runs.redis.get(runs.keys.lock(machine));
    if (!holder) return null;
    const job = await runs.job(holder);
    // A run being submitted has locked its machines a moment before its job exists.
    if (!job) return holder;
    return (await isActive(job)) ? holder : null;
  }

  private report(events: readonly WatchEvent[]): void {
    const { log, onEvents } = this.options;
    for (const event of events) {
      if (event.type === 'monitor.status')
        log?.info(
          { machine: event.machine, from: event.from, to: event.to },
          `monitor: ${event.machine} ${event.from} → ${event.to}`,
        );
      else if (event.type === 'monitor.recovered')
        log?.info(
          { machine: event.machine, incident: event.incident },
          `monitor: ${event.machine} recovered`,
        );
      else
        log?.warn(
          { machine: event.machine, incident: event.incident, event: event.type },
          `monitor: ${event.machine} ${event.status}: ${event.reason}`,
        );
    }
    onEvents?.(events);
  }
}

/** The check's result, or an unreachable one when it takes longer than it may. */
function checkWithin(checking: Promise<MachineHealth>, ms: number, machine: string): Promise<MachineHealth> {
  return withDeadline(checking, ms, () => ({
    machine,
    reachable: false,
    error: `no answer within ${Math.round(ms / 1000)} s`,
    checks: [],
    ok: false,
  }));
}
