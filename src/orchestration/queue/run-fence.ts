import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { RunEvent } from '../run-events.js';
import { RunParked } from '../run-flow.js';
import type { RunQueue } from './run-queue.js';
import type { RunJobData } from './run-request.js';

/*
 * The fence relies on BullMQ's key layout (as of bullmq 6.7): a job is the hash
 * `bull:<queue>:<jobId>` (`queue.toKey(jobId)`), whose field `data` holds the job's data as JSON,
 * and while a worker carries the job out, `bull:<queue>:<jobId>:lock` holds that worker's lock
 * token. A BullMQ upgrade that changes either must change the scripts below.
 */

/** Events kept per run stream (as EventLog.append). */
const MAX_EVENTS = 20_000;

/** The job's data is written only while ARGV[1] still holds the job's lock. */
const FENCED_CHECKPOINT = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2])
return 1`;

/** An event is appended (as EventLog.append does) only while ARGV[1] still holds the job's lock. */
const FENCED_EVENT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'event', ARGV[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'event', ARGV[2])
return 1`;

/**
 * A run's hold on its job: writes of the run's state and events succeed only while this worker
 * still holds the job's lock (its token), checked atomically in Redis. A worker that lost the
 * lock (it was suspended or cut off for longer than the lock lasts, and another worker has taken
 * the run over) is stopped at its next checkpoint, and none of its writes land.
 */
export class RunFence {
  readonly controller = new AbortController();
  /** Set once another worker has the run: the stop this worker's engine gets. */
  private lostTo: RunParked | null = null;

  constructor(
    private readonly runs: RunQueue,
    private readonly job: Job<RunJobData>,
    readonly token: string,
    private readonly log?: Logger,
  ) {}

  get runId(): string {
    return this.job.id as string;
  }

  get lost(): boolean {
    return this.lostTo !== null;
  }

  private get jobKey(): string {
    return this.runs.queue.toKey(this.runId);
  }

  /** Saves the job's data; rejects with a stop (RunParked) when the run is not this worker's any more. */
  async checkpoint(data: RunJobData): Promise<void> {
    if (!this.lostTo) {
      const written = await this.runs.redis.eval(
        FENCED_CHECKPOINT,
        2,
        this.jobKey,
        `${this.jobKey}:lock`,
        this.token,
        JSON.stringify(data),
      );
      if (written === 1) return;
    }
    throw this.lose();
  }

  /** Appends an event, unless the run is not this worker's any more. */
  async append(event: RunEvent): Promise<void> {
    if (this.lostTo) return;
    const { keys } = this.runs;
    const appended = await this.runs.redis.eval(
      FENCED_EVENT,
      3,
      `${this.jobKey}:lock`,
      keys.events(event.runId),
      keys.allEvents,
      this.token,
      JSON.stringify(event),
      String(MAX_EVENTS),
    );
    if (appended !== 1) this.lose();
  }

  /** Checks that this worker still holds the job's lock; stops the run if not. */
  async verify(): Promise<void> {
    if (this.lostTo) return;
    if ((await this.runs.redis.get(`${this.jobKey}:lock`)) !== this.token) this.lose();
  }

  private lose(): RunParked {
    if (!this.lostTo) {
      this.lostTo = new RunParked(Date.now(), 'another worker has taken the run over');
      this.log?.warn(
        { runId: this.runId },
        `run ${this.runId}: its job's lock was lost to another worker; stopping here`,
      );
      this.controller.abort(this.lostTo);
    }
    return this.lostTo;
  }
}
