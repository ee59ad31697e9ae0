import { DelayedError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { buildOnTargets } from '../../domain/deploy/build-on-targets.js';
import { buildSystems, systemPaths } from '../../domain/deploy/build-systems.js';
import { SshDeployHost } from '../../domain/deploy/ssh-deploy-host.js';
import { loadInventory } from '../../domain/inventory/load-inventory.js';
import type { Inventory, Machine } from '../../domain/inventory/schema.js';
import { LocalPowerControl } from '../../domain/power/local-power-control.js';
import type { PowerControl } from '../../domain/power/power-control.js';
import { machinesNotNeedingReboot } from '../../domain/reboot/not-needing-reboot.js';
import { SshRebootHost } from '../../domain/reboot/ssh-reboot-host.js';
import { LabError } from '../../errors.js';
import type { NixSettings } from '../../transport/process/nix.js';
import type { SshCredentials } from '../../transport/ssh/ssh-connection.js';
import { makeApprovalPreview } from '../approval-preview.js';
import { deployEngine } from '../procedures/deploy.js';
import { healthEngine } from '../procedures/health.js';
import { powerEngine } from '../procedures/power.js';
import { rebootEngine } from '../procedures/reboot.js';
import type { RunEngine, RunOutcome } from '../run-engine.js';
import { RunCancelled, RunParked } from '../run-flow.js';
import { type RebootRunState, skipMachines } from '../run-state.js';
import { type FollowUpDeps, rebootAfterDeploy } from './follow-up-runs.js';
import { nightlyPipeline, type PipelineDeps, type PipelineOptions } from './nightly-pipeline.js';
import { OrderedWrites } from './ordered-writes.js';
import { QueuedApprovals } from './queued-approvals.js';
import { RedisInventoryCache } from './redis-inventory-cache.js';
import type { RunControl } from './run-control.js';
import { RunFence } from './run-fence.js';
import { KEEP_FINISHED_S, type RunQueue, readJob } from './run-queue.js';
import type { RunJobData, RunRequest, RunState } from './run-request.js';

/** Waits shorter than this are waited out in the worker; longer ones park the job. */
const PARK_ABOVE_MS = 2_000;

export interface ProcessorDeps {
  readonly runs: RunQueue;
  readonly control: RunControl;
  readonly nix: NixSettings;
  readonly credentials: SshCredentials;
  /** How long to wait between health attempts (default 500 ms). */
  readonly healthIntervalMs?: number;
  /** Power control (default LocalPowerControl: from this host). */
  readonly power?: PowerControl;
  readonly log?: Logger;
}

/** What a finished run's job returns. */
export interface RunResult {
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

  /** Power control from this host, for lab's automatic recovery (and power runs). */
  private readonly power: PowerControl;

  constructor(private readonly deps: ProcessorDeps) {
    this.power = deps.power ?? new LocalPowerControl();
  }

  /** What the runs this processor starts (follow-ups, the nightly pipeline) take. */
  private get submitting(): PipelineDeps & FollowUpDeps {
    const { runs, nix, log } = this.deps;
    return { runs, nix, readInventory: (flake) => this.readInventory(flake), ...(log ? { log } : {}) };
  }

  process = async (job: Job, token?: string): Promise<unknown> => {
    if (job.name === 'inventory') return this.inventoryJob(job);
    if (job.name === 'run') return this.runJob(job as Job<RunJobData>, token);
    if (job.name === 'pipeline') return nightlyPipeline(this.submitting, job.data as PipelineOptions);
    if (job.name === 'systems') return this.systemsJob(job.data as { flake: string; machines: string[] });
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

  /** The machines' system store paths as the flake evaluates now (one evaluation, no build). */
  private async systemsJob(data: { flake: string; machines: string[] }): Promise<Record<string, string>> {
    const paths = await systemPaths(this.deps.nix, data.flake, data.machines);
    return Object.fromEntries([...paths].map(([machine, path]) => [machine, path.outPath]));
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

  private async runJob(job: Job<RunJobData>, token?: string): Promise<RunResult> {
    const { control, runs } = this.deps;
    const runId = job.id as string;
    const data = readJob(job).data;
    const fence = new RunFence(runs, job, token ?? job.token ?? '', this.deps.log);
    const { controller } = fence;
    this.active.set(fence.token, fence);
    const version = (await control.read(runId)).version;
    const writer = new OrderedWrites();
    const host = this.host(data.request);
    const engine = this.engine(data, host, writer, fence);
    engine.on((event) => writer.push(() => fence.append(event)));
    try {
      let outcome = await this.advance(engine, data, controller.signal);
      await writer.flush();
      // Another worker has the run now: leave it alone (BullMQ cannot fail a job it does not hold).
      if (fence.lost) throw new Error(`run ${runId}: another worker has taken it over`);
      if (outcome.type === 'halted')
        outcome = { type: 'parked', until: outcome.until + 50, why: 'a decision' };
      if (outcome.type === 'parked') {
        // The machines stay the run's for as long as it is parked, however long that is.
        await this.holdLocks(data, outcome.until - Date.now());
        await job.moveToDelayed(Math.max(outcome.until, Date.now()), token);
        // A decision recorded while the job was still active did not find it parked: wake it now.
        if ((await control.read(runId)).version !== version) await job.promote().catch(() => {});
        throw new DelayedError();
      }
      return await this.finished(job, engine.state);
    } catch (error) {
      if (error instanceof DelayedError) throw error;
      await writer.flush().catch((failure: Error) => {
        if (!fence.lost) throw failure;
      });
      if (fence.lost) throw new Error(`run ${runId}: another worker has taken it over`);
      this.deps.log?.error({ err: error, runId }, `run ${runId}: unexpected error`);
      await engine.end('failed', `internal error in the worker: ${(error as Error).message}`);
      await writer.flush();
      return await this.finished(job, engine.state);
    } finally {
      this.active.delete(fence.token);
      await host.close();
    }
  }

  /** Applies what operators decided since the last wake, then runs the engine on. */
  private async advance(engine: RunEngine, data: RunJobData, signal: AbortSignal): Promise<RunOutcome> {
    const { control } = this.deps;
    const { state } = data;
    const runId = state.id;
    const now = await control.read(runId);
    if (now.cancel) {
      // A machine already rebooting or activating is seen to the end first (it may park again).
      return engine.cancel(`cancelled by ${now.cancel.by}`, signal);
    }
    if (state.status === 'halted' && state.halt) {
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
        return { type: 'halted', until: state.halt.expiresAt };
      }
    }
    if (state.kind === 'reboot' && state.status === 'pending' && data.request.onlyNeeded) {
      skipMachines(state, await this.notNeedingReboot(Object.values(state.machines)));
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

  private engine(data: RunJobData, host: SshRebootHost, writer: OrderedWrites, fence: RunFence): RunEngine {
    const { runs, healthIntervalMs, control } = this.deps;
    // The engine goes on only once its state is saved (a step it cannot record is not taken),
    // and only while this worker holds the run (else the checkpoint rejects with a stop).
    // Saves asked for while one waits its turn share that one: it writes the state as it is when
    // it starts, so it holds every change made before each of them (ten machines of a step that
    // move on at once are one write, not ten writes of the whole run one after another).
    let waiting: Promise<void> | null = null;
    const checkpoint = (state: RunState) => {
      waiting ??= writer.pushChecked(async () => {
        waiting = null; // changes from now on need a write of their own
        data.state = state;
        await fence.checkpoint(data);
        await this.holdLocks(data);
      });
      return waiting;
    };
    const config = runs.config;
    const ports = {
      checkpoint,
      healthIntervalMs,
      approval: new QueuedApprovals(
        control,
        data,
        data.state.kind === 'deploy'
          ? (machine) => makeApprovalPreview(host as SshDeployHost, this.deps.nix, data.state, machine)
          : undefined,
      ),
      haltForMs: config.haltTimeout * 1000,
      parkAboveMs: PARK_ABOVE_MS,
    };
    const { state, request } = data;
    // A power action that failed is not retried: the run ends failed instead of halting.
    if (state.kind === 'power')
      return powerEngine(state, { ...ports, haltForMs: undefined, power: this.power });
    if (state.kind === 'health')
      return healthEngine(state, { ...ports, checkHealth: (m) => host.checkHealth(m) });
    if (state.kind === 'reboot')
      return rebootEngine(state as RebootRunState, {
        ...ports,
        host,
        power: this.power,
        activeMs: config.activeWait * 1000,
        parkPollMs: config.parkPoll * 1000,
      });
    const deployHost = host as SshDeployHost;
    return deployEngine(state, {
      ...ports,
      host: deployHost,
      copyAhead: config.copyConcurrency,
      build: (names, signal) => {
        const targets = names.map((name) => state.machines[name] as Machine);
        return request.buildOnTarget
          ? buildOnTargets(deployHost, this.deps.nix, state.flake, targets, signal)
          : buildSystems(this.deps.nix, state.flake, names, { signal });
      },
    });
  }

  /** Frees the run's machines and request, keeps its events a week, starts any follow-up run. */
  private async finished(job: Job<RunJobData>, state: RunState): Promise<RunResult> {
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
      followUp = await rebootAfterDeploy(this.submitting, data.request, state);
    }
    this.deps.log?.info(
      { runId: state.id, kind: state.kind, status: state.status },
      `run ${state.id} (${state.kind}) ${state.status}`,
    );
    return { status: state.status, followUp };
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
