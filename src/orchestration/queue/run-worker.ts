import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { NixSettings } from '../../transport/process/nix.js';
import type { SshCredentials } from '../../transport/ssh/ssh-connection.js';
import type { QueueConfig } from './queue-config.js';
import { RunControl } from './run-control.js';
import { RunProcessor } from './run-processor.js';
import { JOB, RunQueue } from './run-queue.js';

export interface WorkerOptions {
  readonly nix: NixSettings;
  readonly credentials: SshCredentials;
  readonly name?: string;
  readonly concurrency?: number;
  readonly healthIntervalMs?: number;
  readonly log?: Logger;
}

/** The nightly pipeline's scheduler id (one per queue). */
export const SCHEDULE_ID = 'lab-nightly';

/**
 * A worker process's part: a BullMQ worker that carries out runs and inventory reads, a pub/sub
 * subscription for control requests, and the nightly schedule. Any number of them share a Redis.
 */
export class LabWorker {
  private constructor(
    readonly runs: RunQueue,
    readonly processor: RunProcessor,
    private readonly worker: Worker,
    private readonly connections: readonly Redis[],
  ) {}

  static async start(config: QueueConfig, options: WorkerOptions): Promise<LabWorker> {
    const runs = await RunQueue.connect(config, 'lab-worker');
    const processor = new RunProcessor({
      runs,
      control: new RunControl(runs),
      nix: options.nix,
      credentials: options.credentials,
      healthIntervalMs: options.healthIntervalMs,
      log: options.log,
    });
    const subscriber = runs.duplicateConnection('lab-worker-control');
    await subscriber.subscribe(runs.keys.controlChannel);
    subscriber.on('message', (_channel: string, runId: string) => {
      processor
        .controlChanged(runId)
        .catch((error: Error) =>
          options.log?.warn({ err: error, runId }, `control of ${runId}: ${error.message}`),
        );
    });
    // BullMQ makes its own copies of a blocking worker's connection and leaves this one to us.
    const jobs = runs.duplicateConnection('lab-worker-jobs');
    const worker = new Worker(config.queue, processor.process, {
      connection: jobs,
      name: options.name,
      concurrency: options.concurrency ?? config.concurrency,
      lockDuration: config.lockDurationMs,
      stalledInterval: config.lockDurationMs,
      // A crashed worker makes its run "stalled"; another picks it up. That must never fail it.
      maxStalledCount: 1_000_000,
      autorun: false,
    });
    worker.on('error', (error) => options.log?.error({ err: error }, `queue worker: ${error.message}`));
    // A run whose lock could not be renewed may have been taken over by another worker.
    worker.on('lockRenewalFailed', (jobIds: string[]) => {
      processor
        .locksLost(jobIds)
        .catch((error: Error) =>
          options.log?.warn(
            { err: error, jobIds },
            `checking the locks of ${jobIds.join(', ')}: ${error.message}`,
          ),
        );
    });
    worker.on('failed', (job, error) => {
      // Nobody waits for the nightly pipeline: its failure (e.g. a refusal to deploy without the
      // hosts that could not be read) must stand out in the log.
      if (job?.name === JOB.pipeline) {
        options.log?.error(
          { err: error, job: job.name, jobId: job.id },
          `the nightly pipeline failed: ${error.message}`,
        );
        return;
      }
      options.log?.warn(
        { err: error, job: job?.name, jobId: job?.id },
        `job ${job?.name} ${job?.id} failed: ${error.message}`,
      );
    });
    void worker.run();
    await worker.waitUntilReady();
    const labWorker = new LabWorker(runs, processor, worker, [subscriber, jobs]);
    await labWorker.applySchedule();
    return labWorker;
  }

  /** Installs (or removes) the nightly pipeline from the configuration. */
  async applySchedule(): Promise<void> {
    const { schedule } = this.runs.config;
    if (!schedule) {
      await this.runs.queue.removeJobScheduler(SCHEDULE_ID);
      return;
    }
    await this.runs.queue.upsertJobScheduler(
      SCHEDULE_ID,
      { pattern: schedule.cron, ...(schedule.tz ? { tz: schedule.tz } : {}) },
      {
        name: JOB.pipeline,
        data: { flake: schedule.flake, flakeUpdate: schedule.flakeUpdate, skipBroken: schedule.skipBroken },
      },
    );
  }

  /**
   * Stops taking jobs, parks the runs in progress at their next phase boundary (another worker,
   * or this one restarted, resumes them) and closes every connection.
   */
  async stop(): Promise<void> {
    const closing = this.worker.close();
    this.processor.parkAll();
    await closing;
    for (const connection of this.connections) connection.disconnect();
    await this.runs.close();
  }
}
