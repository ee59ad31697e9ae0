import { randomBytes } from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Inventory } from '../../domain/inventory/schema.js';
import { type MachineWatch, type WatchView, watchView } from '../../domain/monitor/machine-watch.js';
import { type MonitorDefaults, monitorSettingsOf } from '../../domain/monitor/monitor-settings.js';
import { formatDuration, parseDuration, type Silence, silenceFor } from '../../domain/monitor/silence.js';
import { selectTargets } from '../../domain/planner/select-targets.js';
import { SilenceNotFoundError, UsageError } from '../../errors.js';
import type { RunQueue } from '../queue/run-queue.js';
import type { Actor } from '../queue/run-request.js';
import type { CheckOutcome } from './health-monitor.js';
import { MONITOR_JOB } from './health-monitor.js';
import { MonitorStore } from './monitor-store.js';

/** One machine as the monitor sees it, for `lab status` and Discord. */
export interface MonitorRow {
  readonly machine: string;
  readonly view: WatchView;
  readonly watch: MachineWatch | null;
  readonly silence: Silence | null;
}

export interface SilenceRequest {
  readonly target: string;
  /** `2h`, `30m`, `1h30m`, … */
  readonly duration: string;
  readonly reason: string;
  readonly by: Actor;
}

/**
 * What clients (the CLI, the bot) do with the monitor: silences, "check now", and its view of
 * the machines. Works with the queue's Redis; checks are carried out by a worker.
 */
export class MonitorClient {
  readonly store: MonitorStore;
  private checks: { queue: Queue; events: QueueEvents; connections: Redis[] } | null = null;

  constructor(private readonly runs: RunQueue) {
    this.store = new MonitorStore(runs.redis, runs.keys);
  }

  async close(): Promise<void> {
    if (!this.checks) return;
    await this.checks.events.close();
    await this.checks.queue.close();
    for (const connection of this.checks.connections) connection.disconnect();
    this.checks = null;
  }

  /**
   * Silences a machine, `@group` or `all` for a while: the target must name machines of the
   * flake, the duration be one (at most four weeks), and there must be a reason.
   */
  async silence(request: SilenceRequest, inventory: Inventory, now = Date.now()): Promise<Silence> {
    selectTargets(inventory, [request.target]);
    const ms = parseDuration(request.duration);
    if (ms === null)
      throw new UsageError(
        `duration: '${request.duration}' is not a duration (e.g. 30m, 2h, 1h30m, 1d; at most 4w)`,
      );
    const reason = request.reason.trim();
    if (reason === '') throw new UsageError('reason: say why the alerts are silenced');
    if (reason.length > 300) throw new UsageError(`reason: at most 300 characters (got ${reason.length})`);
    const silence: Silence = {
      id: randomBytes(4).toString('hex'),
      target: request.target,
      reason,
      by: request.by,
      createdAt: now,
      until: now + ms,
    };
    await this.store.addSilence(silence);
    return silence;
  }

  async silences(now = Date.now()): Promise<Silence[]> {
    return this.store.silences(now);
  }

  /** Removes a silence; SilenceNotFoundError when there is no such one (or it has expired). */
  async unsilence(id: string): Promise<Silence> {
    const removed = await this.store.removeSilence(id);
    if (!removed)
      throw new SilenceNotFoundError(`no silence ${id} (lab silences lists them; expired ones are gone)`);
    return removed;
  }

  /** Checks the machine now, in a worker, and answers with what the monitor made of it. */
  async checkNow(machine: string, timeoutMs = 60_000): Promise<CheckOutcome> {
    await this.runs.requireWorker();
    const checks = await this.checkQueue();
    const job = await checks.queue.add(
      MONITOR_JOB.check,
      { machine, requested: true },
      { removeOnComplete: { age: 300 }, removeOnFail: { age: 300 } },
    );
    return (await job.waitUntilFinished(checks.events, timeoutMs)) as CheckOutcome;
  }

  /** Every machine of the inventory as the monitor sees it now. */
  async rows(inventory: Inventory, config: MonitorDefaults, now = Date.now()): Promise<MonitorRow[]> {
    const watches = await this.store.watches();
    const silences = await this.store.silences(now);
    const rows: MonitorRow[] = [];
    for (const machine of inventory.machines) {
      const watch = watches.get(machine.name) ?? null;
      const silence = silenceFor(silences, machine, now);
      const monitored = monitorSettingsOf(machine, config) !== null;
      // A run's lock that is gone means the run is over, whatever the last check noted.
      const locked = watch?.run
        ? (await this.runs.redis.get(this.runs.keys.lock(machine.name))) !== null
        : false;
      const current = watch?.run && !locked ? { ...watch, run: null } : watch;
      rows.push({
        machine: machine.name,
        view: watchView(current, { silenced: silence !== null, monitored }),
        watch: current,
        silence,
      });
    }
    return rows;
  }

  private async checkQueue() {
    if (!this.checks) {
      const connection = this.runs.duplicateConnection('lab-monitor-client');
      const eventsConnection = this.runs.duplicateConnection('lab-monitor-client-events');
      const queue = new Queue(this.runs.keys.monitorQueue, { connection });
      const events = new QueueEvents(this.runs.keys.monitorQueue, { connection: eventsConnection });
      await events.waitUntilReady();
      this.checks = { queue, events, connections: [connection, eventsConnection] };
    }
    return this.checks;
  }
}

/** `until 14:30 (1h 30m left), by alice: maintenance` */
export function describeSilence(silence: Silence, now = Date.now()): string {
  return `${silence.target} for ${formatDuration(silence.until - now)} more, by ${silence.by.name}: ${silence.reason}`;
}
