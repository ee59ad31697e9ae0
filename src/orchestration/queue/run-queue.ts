import { randomBytes } from 'node:crypto';
import { type Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Inventory, Machine } from '../../domain/inventory/schema.js';
import { deploySteps } from '../../domain/planner/deploy-steps.js';
import { planSequence, type SkippedHost } from '../../domain/planner/plan.js';
import type { PowerAction } from '../../domain/power/power-steps.js';
import { MachineBusyError, RunControlError, RunNotFoundError, WorkerJobError } from '../../errors.js';
import { pause } from '../../util/pause.js';
import { withStrategy } from '../deploy-strategies.js';
import {
  createDeployRun,
  createHealthRun,
  createPowerRun,
  createRebootRun,
  isRunDone,
} from '../run-state.js';
import { readRunState } from '../run-state-upgrade.js';
import { runWindowSettings } from '../window-gate.js';
import { EventLog } from './event-log.js';
import { LabKeys } from './keys.js';
import { MachineLocks } from './machine-locks.js';
import { levelsNeedingApproval, type QueueConfig } from './queue-config.js';
import { connectRedis, redactUrl, redisConnection } from './redis.js';
import {
  parseRunRequest,
  planId,
  type RunJobData,
  type RunRequestInput,
  type RunState,
  requestFingerprint,
} from './run-request.js';

/** Job names on the queue. */
export const JOB = { run: 'run', inventory: 'inventory', pipeline: 'pipeline', systems: 'systems' } as const;

/** Locks and request claims outlive the last checkpoint of their run by this much. */
export const LOCK_TTL_MS = 6 * 3600_000;

/**
 * How long a run's locks and claim last after a checkpoint under the configuration: longer than
 * the longest wait it may park for after one (a halt, an approval request), or a run that waits
 * for a decision or approvers would lose its machines to another run meanwhile.
 */
export function lockTtlMs(config: Pick<QueueConfig, 'haltTimeout' | 'approvals'>): number {
  return LOCK_TTL_MS + 1000 * Math.max(config.haltTimeout, config.approvals.timeout);
}

/**
 * A request's claim while its run is being planned (the inventory may need an evaluation), and
 * the machines' locks until its job is added. Once the job exists both last lockTtlMs (hours): a key
 * whose run has no job and that lives longer than this was not left by a submission under way.
 */
const CLAIM_TTL_MS = 15 * 60_000;
/** How long a submission waits for the job of a run that locked a machine a moment ago. */
const SUBMITTING_WAIT_MS = 5_000;
/** Finished runs (their jobs, events and control keys) are kept this long for `lab status`. */
export const KEEP_FINISHED_S = 7 * 24 * 3600;

export interface SubmittedRun {
  readonly runId: string;
  /** True when the same request was already running: this is that run, not a new one. */
  readonly duplicate: boolean;
  readonly data: RunJobData;
}

/** A run as `lab status` shows it: the job's data and where BullMQ has it. */
export interface RunRecord {
  readonly data: RunJobData;
  readonly jobState: string;
}

/**
 * The queue as its clients (the CLI, the bot, workers) use it: submit runs, read the inventory
 * through a worker, list runs. One Redis connection for commands; blocking reads get their own.
 */
export class RunQueue {
  readonly keys: LabKeys;
  readonly queue: Queue;
  readonly events: EventLog;
  readonly locks: MachineLocks;
  /** The same locks, taken for a run whose job is not added yet (they expire sooner). */
  private readonly submitting: MachineLocks;
  private queueEvents: QueueEvents | null = null;
  /** QueueEvents' connection: BullMQ leaves a connection it was given to whoever made it. */
  private queueEventsConnection: Redis | null = null;

  private constructor(
    readonly config: QueueConfig,
    readonly redis: Redis,
  ) {
    this.keys = new LabKeys(config.queue);
    this.queue = new Queue(config.queue, { connection: redis });
    this.events = new EventLog(redis, this.keys);
    this.locks = new MachineLocks(redis, this.keys, lockTtlMs(config));
    this.submitting = new MachineLocks(redis, this.keys, CLAIM_TTL_MS);
  }

  /** Connects, failing fast with a clear message when Redis does not answer. */
  static async connect(config: QueueConfig, name = 'lab'): Promise<RunQueue> {
    return new RunQueue(config, await connectRedis(config.redisUrl, name));
  }

  /** A new connection to the same Redis (for blocking reads such as following events). */
  duplicateConnection(name: string): Redis {
    return redisConnection(this.config.redisUrl, name);
  }

  async close(): Promise<void> {
    await this.queueEvents?.close();
    this.queueEventsConnection?.disconnect();
    await this.queue.close();
    this.redis.disconnect();
  }

  /**
   * The flake's machines, read by a worker (the caller needs no nix); cached in Redis by the
   * flake's revision, so an unchanged flake is not evaluated again.
   */
  async inventory(flake: string, options: { timeoutMs?: number } = {}): Promise<Inventory> {
    return (await this.workerJob(
      JOB.inventory,
      { flake },
      `reading ${flake}`,
      options.timeoutMs,
    )) as Inventory;
  }

  /**
   * The store paths of the machines' systems as the flake evaluates now (no build), by a worker:
   * machine → path. What an approval's change preview is checked against.
   */
  async systems(flake: string, machines: readonly string[]): Promise<Map<string, string>> {
    const paths = (await this.workerJob(
      JOB.systems,
      { flake, machines },
      `evaluating the systems of ${flake}`,
      600_000,
    )) as Record<string, string>;
    return new Map(Object.entries(paths));
  }

  /** A job for a worker (it has nix), waited for; a failure is a WorkerJobError saying what failed. */
  private async workerJob(name: string, data: unknown, what: string, timeoutMs = 600_000): Promise<unknown> {
    await this.requireWorker();
    const job = await this.queue.add(name, data, {
      removeOnComplete: { age: 3600, count: 50 },
      removeOnFail: { age: 3600, count: 50 },
    });
    if (!this.queueEvents) {
      this.queueEventsConnection = this.duplicateConnection('lab-events');
      this.queueEvents = new QueueEvents(this.config.queue, { connection: this.queueEventsConnection });
    }
    await this.queueEvents.waitUntilReady();
    try {
      return await job.waitUntilFinished(this.queueEvents, timeoutMs);
    } catch (error) {
      // The worker keeps a failure's hint for operators apart (RunProcessor): it stays out of Discord.
      const message = (error as Error).message;
      const hint = (await this.queue.getJob(job.id as string).catch(() => undefined))?.data?.operatorHint;
      const split = typeof hint === 'string' && hint !== '' && message.endsWith(hint);
      throw new WorkerJobError(
        `${what} in a worker failed: ${split ? message.slice(0, -hint.length) : message}`,
        split ? { operatorHint: hint } : {},
      );
    }
  }

  /** The last inventory a worker read for the flake, without evaluating (e.g. for autocomplete). */
  async cachedInventory(flake: string): Promise<Inventory | null> {
    const text = await this.redis.get(this.keys.latestInventory(flake));
    return text ? (JSON.parse(text) as Inventory) : null;
  }

  /**
   * Plans and enqueues a run: the request is validated, the machines read (by a worker) and
   * planned, every machine locked for the run (or the run refused, naming who holds one), and
   * the job added. The same request while its run is active returns that run.
   */
  async submit(
    input: RunRequestInput,
    options: { inventory?: (flake: string) => Promise<Inventory> } = {},
  ): Promise<SubmittedRun> {
    const request = parseRunRequest(input);
    const fingerprint = requestFingerprint(request);
    const runId = newRunId();
    const claim = this.keys.request(fingerprint);
    const existing = await this.claim(claim, runId);
    if (existing) return existing;
    let locked: string[] = [];
    try {
      const inventory = await (options.inventory ?? ((flake) => this.inventory(flake)))(request.flake);
      const { state, skipped } = this.planRun(runId, request, inventory);
      const machines = Object.keys(state.machines);
      if (request.kind !== 'health') {
        const borrowed = request.haltedRun ? await this.haltedOn(request.haltedRun, machines) : null;
        if (!(await this.lockMachines(runId, machines, borrowed))) locked = machines;
      }
      const data: RunJobData = {
        request,
        planId: planId(state),
        fingerprint,
        policy: this.config.approvals,
        requestedAt: Date.now(),
        skipped,
        state,
      };
      await this.queue.add(JOB.run, data, {
        jobId: runId,
        removeOnComplete: { age: KEEP_FINISHED_S },
        removeOnFail: { age: KEEP_FINISHED_S },
      });
      // The job exists: from now on the claim and the locks last as long as a run's do.
      await this.locks.refreshKey(claim, runId);
      await this.locks.refresh(runId, locked);
      return { runId, duplicate: false, data };
    } catch (error) {
      await this.locks.release(runId, locked);
      await this.locks.releaseKey(claim, runId);
      throw error;
    }
  }

  /** The run's job data and state, or RunNotFoundError. */
  async run(runId: string): Promise<RunRecord> {
    const job = await this.job(runId);
    if (!job)
      throw new RunNotFoundError(`no run ${runId} in queue ${this.config.queue}`, {
        operatorHint: ' (lab status lists runs)',
      });
    return { data: job.data, jobState: await job.getState() };
  }

  /** The run's job, its state read (and upgraded from an older version) by readRunState. */
  async job(runId: string): Promise<Job<RunJobData> | null> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(runId)) return null;
    const job = (await this.queue.getJob(runId)) as Job<RunJobData> | undefined;
    return job && job.name === JOB.run ? readJob(job) : null;
  }

  /** Active runs first, then the most recent finished ones. */
  async runs(limit = 20): Promise<RunRecord[]> {
    const states = ['active', 'delayed', 'waiting', 'prioritized', 'completed', 'failed'] as const;
    const records: RunRecord[] = [];
    // A job that moves on between two reads (a run that parks) is listed once, where first seen.
    const seen = new Set<string>();
    for (const jobState of states) {
      const jobs = (await this.queue.getJobs([jobState], 0, limit * 2)) as Job<RunJobData>[];
      for (const job of jobs) {
        if (job?.name !== JOB.run || !job.data?.state || seen.has(job.id as string)) continue;
        seen.add(job.id as string);
        records.push({ data: readJob(job).data, jobState });
      }
    }
    const active = records.filter((record) => !isRunDone(record.data.state.status));
    const done = records
      .filter((record) => isRunDone(record.data.state.status))
      .sort((a, b) => (b.data.state.finishedAt ?? 0) - (a.data.state.finishedAt ?? 0));
    return [...active.sort((a, b) => a.data.requestedAt - b.data.requestedAt), ...done].slice(0, limit);
  }

  /** Fails fast when no worker listens: nothing would carry the request out. */
  async requireWorker(): Promise<void> {
    if ((await this.queue.getWorkersCount()) > 0) return;
    throw new WorkerJobError(
      `no lab worker is connected to queue ${this.config.queue} at ${redactUrl(this.config.redisUrl)}`,
      { operatorHint: ': start one with `lab worker` (or `lab serve`)' },
    );
  }

  /**
   * The run's initial state, and the hosts that could not be read which it goes on without.
   *
   * @throws BrokenHostsError when a run of all or of a group would leave some out, unless the
   *   request says skipBroken.
   */
  private planRun(
    runId: string,
    request: ReturnType<typeof parseRunRequest>,
    inventory: Inventory,
  ): { state: RunState; skipped: readonly SkippedHost[] } {
    const { skipBroken } = request;
    const plan = planSequence(inventory, {
      targets: request.targets,
      parallel: request.parallel,
      skipBroken,
    });
    const skipped = plan.skipped;
    if (request.kind === 'health') {
      const state = createHealthRun(
        plan.steps.flatMap((step) => step.machines),
        { flake: request.flake, id: runId },
      );
      return { state, skipped };
    }
    const confirmLevels = levelsNeedingApproval(this.config.approvals);
    if (request.kind === 'power') {
      // The one machine by name (planSequence refused an unknown or unreadable one).
      const machine = plan.steps[0]?.machines[0] as Machine;
      const state = createPowerRun(
        machine,
        { action: request.action as PowerAction, by: request.requestedBy.name },
        { flake: request.flake, id: runId, settings: { confirmLevels } },
      );
      return { state, skipped };
    }
    const windows = runWindowSettings(request, this.config.maintenanceWindow);
    if (request.kind === 'reboot') {
      const state = createRebootRun(plan, {
        flake: request.flake,
        id: runId,
        settings: {
          confirmLevels,
          ...windows,
          rebootTimeout: request.rebootTimeout ?? this.config.rebootTimeout,
          healthTimeout: request.healthTimeout ?? this.config.healthTimeout,
          ...(request.stabilityWindow !== undefined ? { stabilityWindow: request.stabilityWindow } : {}),
          ...(request.rebootCommand ? { rebootCommand: request.rebootCommand } : {}),
        },
      });
      return { state, skipped };
    }
    const { strategy } = request;
    const deployPlan = withStrategy(
      strategy ? plan : planSequence(inventory, { targets: request.targets, skipBroken }),
      strategy,
    );
    const state = createDeployRun(deploySteps(deployPlan), {
      flake: request.flake,
      id: runId,
      settings: {
        confirmLevels,
        ...windows,
        healthTimeout: request.healthTimeout ?? this.config.healthTimeout,
      },
    });
    return { state, skipped };
  }

  /**
   * Claims the request for the new run. When the same request already has a run that is still
   * active (or is being submitted right now), returns that run instead.
   */
  private async claim(key: string, runId: string): Promise<SubmittedRun | null> {
    for (let attempt = 0; attempt < 120; attempt += 1) {
      if (await this.redis.set(key, runId, 'PX', CLAIM_TTL_MS, 'NX')) return null;
      const holder = await this.redis.get(key);
      if (!holder) continue;
      const job = await this.job(holder);
      if (!job) {
        if (await this.beingSubmitted(key, holder)) {
          await pause(250); // being submitted by someone else: its job appears, or its claim goes
        } else {
          await this.locks.releaseKey(key, holder); // its job is gone: the claim is stale
        }
        continue;
      }
      if (await isActive(job)) return { runId: holder, duplicate: true, data: job.data };
      await this.locks.releaseKey(key, holder); // its run is over: the claim is stale
    }
    throw new WorkerJobError('the same request is being submitted right now and is not ready yet; try again');
  }

  /**
   * The run (its id) halted on the one machine of a power run asked for from its alert, whose lock
   * that power run acts under; refused when that run is no longer halted there.
   */
  private async haltedOn(runId: string, machines: readonly string[]): Promise<string> {
    const job = await this.job(runId);
    const halt = job?.data.state.status === 'halted' ? job.data.state.halt : null;
    const machine = machines[0] as string;
    if (!job || !halt || halt.machine !== machine || !(await isActive(job)))
      throw new RunControlError(
        `run ${runId} is no longer halted on ${machine}: its alert is out of date (use /lab power)`,
      );
    return runId;
  }

  /**
   * Locks every machine for the run; a lock held by a run that is over is taken over. Returns
   * true when the machines are held by `borrowFrom` (a halted run whose alert asked for this
   * run): they stay that run's, and this run acts under its lock.
   */
  private async lockMachines(
    runId: string,
    machines: readonly string[],
    borrowFrom: string | null = null,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const conflict = await this.submitting.acquire(runId, machines);
      if (!conflict) return false;
      if (borrowFrom !== null && conflict.heldBy === borrowFrom && machines.length === 1) return true;
      const holder = await this.holderJob(this.keys.lock(conflict.machine), conflict.heldBy);
      if (holder === 'submitting')
        throw new WorkerJobError(
          `${conflict.machine} is being locked by run ${conflict.heldBy}, which is being submitted right now; try again`,
        );
      if (holder && (await isActive(holder))) {
        throw new MachineBusyError(conflict.machine, {
          runId: conflict.heldBy,
          kind: holder.data.request.kind,
          requestedBy: holder.data.request.requestedBy.name,
        });
      }
      await this.locks.breakStale(conflict.machine, conflict.heldBy);
    }
    throw new WorkerJobError('could not lock the machines (they are being claimed concurrently); try again');
  }

  /**
   * The job of the run that holds `key`, or null when it has none. A run that is being submitted
   * right now locks its machines a moment before its job is added: wait for that job rather than
   * take its locks ('submitting' if it does not appear in time).
   */
  private async holderJob(key: string, holder: string): Promise<Job<RunJobData> | null | 'submitting'> {
    const deadline = Date.now() + SUBMITTING_WAIT_MS;
    for (;;) {
      const job = await this.job(holder);
      if (job || !(await this.beingSubmitted(key, holder))) return job;
      if (Date.now() >= deadline) return 'submitting';
      await pause(50);
    }
  }

  /** Whether `key` (a claim or a lock) belongs to a run whose job is not added yet. */
  private async beingSubmitted(key: string, holder: string): Promise<boolean> {
    const [value, ttl] = await Promise.all([this.redis.get(key), this.redis.pttl(key)]);
    return value === holder && ttl > 0 && ttl <= CLAIM_TTL_MS;
  }
}

/**
 * A short random run id (10 hex digits). Never digits only: BullMQ refuses a custom job id that
 * reads as an integer, and about one id in a hundred would.
 */
export function newRunId(): string {
  for (;;) {
    const id = randomBytes(5).toString('hex');
    if (!/^\d+$/.test(id)) return id;
  }
}

/** The job with its data's run state read by readRunState (a version 1 state upgraded). */
export function readJob(job: Job<RunJobData>): Job<RunJobData> {
  job.data.state = readRunState(job.data.state);
  return job;
}

/** Whether a run's job is still to be carried out (waiting, active, parked). */
export async function isActive(job: Job<RunJobData>): Promise<boolean> {
  if (isRunDone(job.data.state.status)) return false;
  const state = await job.getState();
  return state !== 'completed' && state !== 'failed' && state !== 'unknown';
}
