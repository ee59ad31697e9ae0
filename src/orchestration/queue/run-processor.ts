import { DelayedError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { buildOnTargets } from '../../domain/deploy/build-on-targets.js';
import { buildSystems } from '../../domain/deploy/build-systems.js';
import { SshDeployHost } from '../../domain/deploy/ssh-deploy-host.js';
import { loadInventory } from '../../domain/inventory/load-inventory.js';
import type { Inventory, Machine } from '../../domain/inventory/schema.js';
import { BrokenHostsError } from '../../domain/planner/errors.js';
import { machinesNotNeedingReboot } from '../../domain/reboot/not-needing-reboot.js';
import { SshRebootHost } from '../../domain/reboot/ssh-reboot-host.js';
import { LabError } from '../../errors.js';
import { flakeUpdateArgs, type NixSettings, nixVersion, runNix } from '../../transport/process/nix.js';
import type { SshCredentials } from '../../transport/ssh/ssh-connection.js';
import { pause } from '../../util/pause.js';
import { DeployRun, type DeployRunState } from '../deploy-run.js';
import { HealthRun, type HealthRunState } from '../health-run.js';
import { RebootRun, type RunWaiting } from '../reboot-run.js';
import type { RunEvent } from '../run-events.js';
import { type ApprovalOutcome, RunCancelled, RunParked } from '../run-flow.js';
import { isRunDone, type RebootRunState, skipMachines } from '../run-state.js';
import { RedisInventoryCache } from './redis-inventory-cache.js';
import type { RunControl } from './run-control.js';
import { KEEP_FINISHED_S, type RunQueue } from './run-queue.js';
import type { RunJobData, RunRequest, RunState } from './run-request.js';

/** What the nightly schedule's pipeline job carries (see LabWorker.applySchedule). */
interface PipelineOptions {
  readonly flake: string;
  readonly flakeUpdate: boolean;
  /** Absent in the jobs of schedules installed before it existed: false. */
  readonly skipBroken?: boolean;
}

/** Waits shorter than this are waited out in the worker; longer ones park the job. */
const PARK_ABOVE_MS = 2_000;

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

export interface ProcessorDeps {
  readonly runs: RunQueue;
  readonly control: RunControl;
  readonly nix: NixSettings;
  readonly credentials: SshCredentials;
  /** How long to wait between health attempts (default 500 ms). */
  readonly healthIntervalMs?: number;
  readonly log?: Logger;
}

type Engine = RebootRun | DeployRun | HealthRun;

/** What a finished run's job returns. */
export interface RunOutcome {
  readonly status: RunState['status'];
  readonly followUp: string | null;
}

/**
 * Carries out queued jobs: reads inventories and runs runs. A run resumes from its checkpointed
 * state; every wait longer than a moment parks the job (moveToDelayed) instead of holding the
 * worker; control requests (cancel, approvals, decisions) are read from Redis on every wake.
 */
export class RunProcessor {
  /** The runs being carried out here, by their job's lock token. */
  private readonly active = new Map<string, RunFence>();

  constructor(private readonly deps: ProcessorDeps) {}

  process = async (job: Job, token?: string): Promise<unknown> => {
    if (job.name === 'inventory') return this.inventoryJob(job);
    if (job.name === 'run') return this.runJob(job as Job<RunJobData>, token);
    if (job.name === 'pipeline') return this.pipeline(job.data as PipelineOptions);
    throw new Error(`unknown job ${job.name}`);
  };

  /** Every run this worker carries out stops at its next phase boundary and is parked for another. */
  parkAll(): void {
    for (const run of this.active.values())
      run.controller.abort(new RunParked(Date.now(), 'the worker is shutting down'));
  }

  /** A control request was recorded for a run; if it is a cancel of a run here, stop it. */
  async controlChanged(runId: string): Promise<void> {
    const here = [...this.active.values()].filter((run) => run.runId === runId);
    if (here.length === 0) return;
    const control = await this.deps.control.read(runId);
    if (control.cancel)
      for (const run of here) run.controller.abort(new RunCancelled(`cancelled by ${control.cancel.by}`));
  }

  /**
   * BullMQ could not renew the lock of these jobs: if another worker has a run's job now (this
   * worker was too slow to renew it, e.g. it was suspended), this worker stops touching it.
   */
  async locksLost(jobIds: readonly string[]): Promise<void> {
    const runs = [...this.active.values()].filter((run) => jobIds.includes(run.runId));
    await Promise.all(runs.map((run) => run.verify()));
  }

  get activeRuns(): number {
    return this.active.size;
  }

  /**
   * An inventory read for another process. A failure's operator hint (a setting to change) is
   * kept in the job apart from the message, so that Discord can show the message without it.
   */
  private async inventoryJob(job: Job): Promise<Inventory> {
    try {
      return await this.readInventory((job.data as { flake: string }).flake);
    } catch (error) {
      if (error instanceof LabError && error.operatorHint)
        await job.updateData({ ...job.data, operatorHint: error.operatorHint }).catch(() => {});
      throw error;
    }
  }

  /** The flake's inventory, evaluated once per revision for every process that asks. */
  async readInventory(flake: string): Promise<Inventory> {
    const { runs, nix } = this.deps;
    const inventory = await loadInventory({
      flake,
      nix,
      cache: new RedisInventoryCache(runs.redis, runs.keys),
    });
    await runs.redis.set(runs.keys.latestInventory(flake), JSON.stringify(inventory), 'EX', 30 * 24 * 3600);
    return inventory;
  }

  private async runJob(job: Job<RunJobData>, token?: string): Promise<RunOutcome> {
    const { control, runs } = this.deps;
    const runId = job.id as string;
    const data = job.data;
    const fence = new RunFence(runs, job, token ?? job.token ?? '', this.deps.log);
    const { controller } = fence;
    this.active.set(fence.token, fence);
    const version = (await control.read(runId)).version;
    const writer = new OrderedWrites();
    const host = this.host(data.request);
    const engine = this.engine(data, host, writer, fence);
    engine.on((event) => writer.push(() => fence.append(event)));
    try {
      const state = await this.advance(engine, data, controller.signal);
      await writer.flush();
      if (!isRunDone(state.status))
        throw new RunParked((state.halt?.expiresAt ?? Date.now()) + 50, 'a decision');
      return await this.finished(job, state);
    } catch (error) {
      await writer.flush().catch((failure: Error) => {
        if (!fence.lost) throw failure;
      });
      // Another worker has the run now: leave it alone (BullMQ cannot fail a job it does not hold).
      if (fence.lost) throw new Error(`run ${runId}: another worker has taken it over`);
      if (error instanceof RunParked) {
        // The machines stay the run's for as long as it is parked, however long that is.
        await this.holdLocks(data, error.until - Date.now());
        await job.moveToDelayed(Math.max(error.until, Date.now()), token);
        // A decision recorded while the job was still active did not find it parked: wake it now.
        if ((await control.read(runId)).version !== version) await job.promote().catch(() => {});
        throw new DelayedError();
      }
      this.deps.log?.error({ err: error, runId }, `run ${runId}: unexpected error`);
      const state = await engine.end('failed', `internal error in the worker: ${(error as Error).message}`);
      await writer.flush();
      return await this.finished(job, state);
    } finally {
      this.active.delete(fence.token);
      await host.close();
    }
  }

  /** Applies what operators decided since the last wake, then runs the engine on. */
  private async advance(engine: Engine, data: RunJobData, signal: AbortSignal): Promise<RunState> {
    const { control } = this.deps;
    const { state } = data;
    const runId = state.id;
    const now = await control.read(runId);
    if (now.cancel) {
      const reason = `cancelled by ${now.cancel.by}`;
      // A machine already rebooting or activating is seen to the end first (it may park again).
      return engine instanceof HealthRun ? engine.end('cancelled', reason) : engine.cancel(reason, signal);
    }
    if (state.status === 'halted' && state.halt && !(engine instanceof HealthRun)) {
      const decision = now.decision?.haltAt === state.halt.at ? now.decision : null;
      if (decision) {
        await engine.decide(decision.decision, decision.by);
        await control.clearDecision(runId);
      } else if (Date.now() >= state.halt.expiresAt) {
        return engine.end(
          'aborted',
          `nobody retried, skipped or aborted within ${this.deps.runs.config.haltTimeout} s`,
        );
      } else {
        throw new RunParked(state.halt.expiresAt + 50, 'a decision');
      }
    }
    if (engine instanceof HealthRun) return engine.run();
    if (engine instanceof RebootRun && state.status === 'pending' && data.request.onlyNeeded) {
      skipMachines(engine.state, await this.notNeedingReboot(Object.values(engine.state.machines)));
    }
    return engine.run(signal);
  }

  /** Keeps the run's machine locks and request claim for another ttl, plus `parkedMs` if it parks. */
  private async holdLocks(data: RunJobData, parkedMs = 0): Promise<void> {
    const { runs } = this.deps;
    const { state } = data;
    if (state.kind !== 'health') await runs.locks.refresh(state.id, Object.keys(state.machines), parkedMs);
    await runs.locks.refreshKey(runs.keys.request(data.fingerprint), state.id, parkedMs);
  }

  private engine(data: RunJobData, host: SshRebootHost, writer: OrderedWrites, fence: RunFence): Engine {
    const { runs, healthIntervalMs } = this.deps;
    // The engine goes on only once its state is saved (a step it cannot record is not taken),
    // and only while this worker holds the run (else the checkpoint rejects with a stop).
    const checkpoint = (state: RunState) =>
      writer.pushChecked(async () => {
        data.state = state;
        await fence.checkpoint(data);
        await this.holdLocks(data);
      });
    const config = runs.config;
    const waiting: RunWaiting = {
      until: async (until, why, signal) => {
        if (until - Date.now() > PARK_ABOVE_MS) throw new RunParked(until, why);
        await pause(until - Date.now(), signal);
      },
      activeMs: config.activeWait * 1000,
      parkPollMs: config.parkPoll * 1000,
    };
    const haltForMs = config.haltTimeout * 1000;
    const { state } = data;
    if (state.kind === 'health')
      return new HealthRun(state, { checkHealth: (m) => host.checkHealth(m), checkpoint });
    let engine: RebootRun | DeployRun;
    const confirm = (machine: Machine) => this.approval(data, machine, engine);
    if (state.kind === 'reboot') {
      engine = new RebootRun(state, { host, confirm, checkpoint, healthIntervalMs, waiting, haltForMs });
    } else {
      const deployHost = host as SshDeployHost;
      const { request } = data;
      engine = new DeployRun(state, {
        host: deployHost,
        confirm,
        checkpoint,
        healthIntervalMs,
        haltForMs,
        build: (names, signal) => {
          const targets = names.map((name) => state.machines[name] as Machine);
          return request.buildOnTarget
            ? buildOnTargets(deployHost, this.deps.nix, state.flake, targets, signal)
            : buildSystems(this.deps.nix, state.flake, names, { signal });
        },
      });
    }
    return engine;
  }

  /**
   * The approval of a machine's step: approved once enough distinct people approved; cancelled
   * on a denial or when the request expires; otherwise the run parks until the request expires
   * (an approval wakes it at once).
   */
  private async approval(
    data: RunJobData,
    machine: Machine,
    engine: RebootRun | DeployRun,
  ): Promise<ApprovalOutcome> {
    const { control } = this.deps;
    const runId = data.state.id;
    const required = data.policy.required[machine.criticalityLevel];
    if (required === 0) return { approved: true, approvals: [] };
    const now = await control.read(runId);
    const denial = now.denials[machine.name];
    if (denial) return { approved: false, reason: `${machine.name} was denied by ${denial.by}` };
    const approvals = await control.approvals(runId, machine.name);
    if (approvals.length >= required) return { approved: true, approvals };
    const { since, first } = await control.markWaiting(runId, machine.name);
    const expiresAt = since + data.policy.timeout * 1000;
    if (Date.now() >= expiresAt)
      return {
        approved: false,
        reason: `the approval of ${machine.name} expired: ${approvals.length} of ${required} within ${duration(data.policy.timeout)}`,
      };
    const announced = await this.deps.runs.redis.hget(
      this.deps.runs.keys.control(runId),
      `announced:${machine.name}`,
    );
    if (first || Number(announced ?? -1) !== approvals.length) {
      await this.deps.runs.redis.hset(
        this.deps.runs.keys.control(runId),
        `announced:${machine.name}`,
        String(approvals.length),
      );
      engine.report({
        type: 'machine.waiting',
        machine: machine.name,
        reason: 'approval',
        required,
        approvals,
        expiresAt: new Date(expiresAt).toISOString(),
      });
    }
    throw new RunParked(expiresAt, `approval of ${machine.name}`);
  }

  /** Frees the run's machines and request, keeps its events a week, starts any follow-up run. */
  private async finished(job: Job<RunJobData>, state: RunState): Promise<RunOutcome> {
    const { runs } = this.deps;
    const data = job.data;
    const machines = Object.keys(state.machines);
    await runs.locks.release(state.id, machines);
    await runs.locks.releaseKey(runs.keys.request(data.fingerprint), state.id);
    const pipeline = runs.redis.pipeline();
    for (const key of runs.keys.runKeys(state.id, machines)) pipeline.expire(key, KEEP_FINISHED_S);
    await pipeline.exec();
    let followUp: string | null = null;
    if (state.kind === 'deploy' && state.status === 'succeeded' && data.request.rebootIfNeeded) {
      followUp = await this.rebootAfterDeploy(data.request, state);
    }
    this.deps.log?.info(
      { runId: state.id, kind: state.kind, status: state.status },
      `run ${state.id} (${state.kind}) ${state.status}`,
    );
    return { status: state.status, followUp };
  }

  /** After a deploy, the machines that need it are rebooted in a run of their own. */
  private async rebootAfterDeploy(request: RunRequest, state: DeployRunState): Promise<string | null> {
    if (state.needsReboot.length === 0) return null;
    try {
      const submitted = await this.deps.runs.submit(
        {
          kind: 'reboot',
          flake: request.flake,
          targets: state.needsReboot,
          ...(request.rebootTimeout !== undefined ? { rebootTimeout: request.rebootTimeout } : {}),
          ...(request.healthTimeout !== undefined ? { healthTimeout: request.healthTimeout } : {}),
          requestedBy: request.requestedBy,
          source: request.source,
        },
        { inventory: (flake) => this.readInventory(flake) },
      );
      return submitted.runId;
    } catch (error) {
      this.deps.log?.warn(
        { err: error, runId: state.id, machines: state.needsReboot },
        `run ${state.id}: could not start the reboot of ${state.needsReboot.join(', ')}: ${(error as Error).message}`,
      );
      return null;
    }
  }

  /**
   * The scheduled pipeline: optionally update the flake's inputs, then deploy all, reboot what
   * needs it. Hosts that could not be read make it refuse (the job fails with the message, which
   * the worker logs) unless the schedule skips them (LAB_SCHEDULE_SKIP_BROKEN).
   */
  private async pipeline(options: PipelineOptions): Promise<{ runId: string | null }> {
    if (options.flakeUpdate) {
      const version = await nixVersion(this.deps.nix);
      const result = await runNix(this.deps.nix, flakeUpdateArgs(version, options.flake));
      if (!result.ok) throw new Error(`nix flake update ${options.flake} failed: ${result.failure.message}`);
    }
    const skipBroken = options.skipBroken === true;
    const submitted = await this.deps.runs
      .submit(
        {
          kind: 'deploy',
          flake: options.flake,
          targets: [],
          rebootIfNeeded: true,
          skipBroken,
          requestedBy: { id: 'lab:schedule', name: 'the nightly schedule' },
          source: 'schedule',
        },
        { inventory: (flake) => this.readInventory(flake) },
      )
      .catch((error: unknown) => {
        if (error instanceof BrokenHostsError)
          throw error.withHowToSkip('set LAB_SCHEDULE_SKIP_BROKEN=1 (NixOS: schedule.skipBroken)');
        throw error;
      });
    const skipped = submitted.data.skipped ?? [];
    if (skipped.length > 0)
      this.deps.log?.warn(
        { runId: submitted.runId, skipped },
        `the nightly pipeline goes on without ${skipped.map((host) => host.name).join(', ')}, which could not be read ` +
          `(LAB_SCHEDULE_SKIP_BROKEN): ${skipped.map((host) => `${host.name}: ${host.reason}`).join('; ')}`,
      );
    return { runId: submitted.runId };
  }

  private host(request: RunRequest): SshRebootHost {
    const { credentials, nix } = this.deps;
    return request.kind === 'deploy'
      ? new SshDeployHost(credentials, nix, {
          substituteOnTarget: request.substituteOnTarget,
          buildOnTarget: request.buildOnTarget,
        })
      : new SshRebootHost(credentials);
  }

  private async notNeedingReboot(machines: readonly Machine[]): Promise<Map<string, string>> {
    const host = new SshRebootHost(this.deps.credentials);
    try {
      return await machinesNotNeedingReboot(host, machines);
    } finally {
      await host.close();
    }
  }
}

/**
 * A run's hold on its job: writes of the run's state and events succeed only while this worker
 * still holds the job's lock (its token), checked atomically in Redis. A worker that lost the
 * lock (it was suspended or cut off for longer than the lock lasts, and another worker has taken
 * the run over) is stopped at its next checkpoint, and none of its writes land.
 */
class RunFence {
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

/** Writes (checkpoints, events) in the order they were made, one at a time. */
class OrderedWrites {
  private tail: Promise<void> = Promise.resolve();
  private failure: unknown = null;

  /** A write whose failure is reported at the next flush. */
  push(write: () => Promise<unknown>): Promise<void> {
    this.tail = this.tail.then(async () => {
      try {
        await write();
      } catch (error) {
        this.failure ??= error;
      }
    });
    return this.tail;
  }

  /** A write whose failure rejects the returned promise (the caller handles it). */
  pushChecked(write: () => Promise<unknown>): Promise<void> {
    const result = this.tail.then(write).then(() => undefined);
    this.tail = result.catch(() => undefined);
    return result;
  }

  async flush(): Promise<void> {
    await this.tail;
    if (this.failure) {
      const failure = this.failure;
      this.failure = null;
      throw failure;
    }
  }
}

export type { HealthRunState, RebootRunState };

/** Seconds as people say them: "45 s", "30 min", "2 h". */
function duration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}
