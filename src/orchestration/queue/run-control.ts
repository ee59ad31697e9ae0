import type { Job } from 'bullmq';
import { RunControlError, RunNotFoundError } from '../../errors.js';
import { type ApprovalPreview, runPreviewDigest } from '../approval-preview.js';
import type { Approval, Decision } from '../run-flow.js';
import { isRunDone } from '../run-state.js';
import type { RunQueue } from './run-queue.js';
import type { Actor, RunJobData } from './run-request.js';

/**
 * Records an approval unless the machine has all the approvals it needs (KEYS[2] holds ARGV[2])
 * or the approver (ARGV[1]) approved it already: -1, 0, else the number of approvals. Atomic, so
 * two approvers at once cannot both be the last one.
 */
const APPROVE = `
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[2]) then return -1 end
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
return redis.call('RPUSH', KEYS[2], ARGV[3])`;

function alreadyApproved(runId: string, machine: string, required: number): RunControlError {
  return new RunControlError(
    `${machine} is already approved in run ${runId} (${required} of ${required}): it is not waiting any more`,
  );
}

/** A recorded request to cancel, or an operator's answer to a halt (bound to that halt). */
export interface CancelRequest {
  readonly by: string;
  readonly at: string;
}
export interface DecisionRequest {
  readonly decision: Decision;
  readonly by: string;
  readonly at: string;
  /** The halt it answers (its `at`): a late click does not apply to a later halt. */
  readonly haltAt: number;
}

/** Where one machine's approval stands. */
export interface ApprovalStatus {
  readonly machine: string;
  readonly required: number;
  readonly approvals: readonly Approval[];
  readonly complete: boolean;
}

/** Everything workers read from a run's control hash. */
export interface RunControlState {
  readonly version: number;
  readonly cancel: CancelRequest | null;
  readonly decision: DecisionRequest | null;
  /** machine → when its approval was first asked for (epoch ms). */
  readonly waitingSince: Readonly<Record<string, number>>;
  readonly denials: Readonly<Record<string, CancelRequest>>;
  /** machine → how many approvals its last machine.waiting announced. */
  readonly announced: Readonly<Record<string, number>>;
  /** machine → who asked to start it now although its maintenance window is closed. */
  readonly startNow: Readonly<Record<string, CancelRequest>>;
  /** machine → the change preview its deploy approval request shows, and the digest it is bound to. */
  readonly previews: Readonly<Record<string, ApprovalPreview>>;
  /** machine → an Approve refused because the flake changed since its preview (the run is cancelled). */
  readonly voided: Readonly<Record<string, CancelRequest & { readonly reason: string }>>;
}

/**
 * What operators do to runs, from any process: cancel, approve, deny, retry/skip/abort. Each is
 * recorded in Redis first, then the run's parked job is woken (and workers told over pub/sub),
 * so a decision takes effect at once and is never lost if nobody is awake to hear it.
 */
export class RunControl {
  constructor(private readonly runs: RunQueue) {}

  async read(runId: string): Promise<RunControlState> {
    const hash = await this.runs.redis.hgetall(this.runs.keys.control(runId));
    const waitingSince: Record<string, number> = {};
    const denials: Record<string, CancelRequest> = {};
    const announced: Record<string, number> = {};
    const startNow: Record<string, CancelRequest> = {};
    const previews: Record<string, ApprovalPreview> = {};
    const voided: Record<string, CancelRequest & { reason: string }> = {};
    for (const [field, value] of Object.entries(hash)) {
      if (field.startsWith('preview:')) previews[field.slice(8)] = JSON.parse(value) as ApprovalPreview;
      if (field.startsWith('void:'))
        voided[field.slice(5)] = JSON.parse(value) as CancelRequest & { reason: string };
      if (field.startsWith('start-now:')) startNow[field.slice(10)] = JSON.parse(value) as CancelRequest;
      if (field.startsWith('waiting:')) waitingSince[field.slice(8)] = Number(value);
      if (field.startsWith('denied:')) denials[field.slice(7)] = JSON.parse(value) as CancelRequest;
      if (field.startsWith('announced:')) announced[field.slice(10)] = Number(value);
    }
    return {
      version: Number(hash.version ?? 0),
      cancel: hash.cancel ? (JSON.parse(hash.cancel) as CancelRequest) : null,
      decision: hash.decision ? (JSON.parse(hash.decision) as DecisionRequest) : null,
      waitingSince,
      denials,
      announced,
      startNow,
      previews,
      voided,
    };
  }

  /** Records that the machine's wait was announced with this many approvals. */
  async markAnnounced(runId: string, machine: string, approvals: number): Promise<void> {
    await this.runs.redis.hset(this.runs.keys.control(runId), `announced:${machine}`, String(approvals));
  }

  async approvals(runId: string, machine: string): Promise<Approval[]> {
    const list = await this.runs.redis.lrange(this.runs.keys.approvals(runId, machine), 0, -1);
    return list.map((text) => JSON.parse(text) as Approval);
  }

  /** Marks the machine as waiting for approval (once); returns since when it waits. */
  async markWaiting(
    runId: string,
    machine: string,
    now = Date.now(),
  ): Promise<{ since: number; first: boolean }> {
    const key = this.runs.keys.control(runId);
    const first = (await this.runs.redis.hsetnx(key, `waiting:${machine}`, String(now))) === 1;
    const since = first ? now : Number(await this.runs.redis.hget(key, `waiting:${machine}`));
    return { since, first };
  }

  async cancel(runId: string, by: Actor): Promise<void> {
    const job = await this.activeJob(runId);
    await this.record(job, 'cancel', { by: by.name, at: new Date().toISOString() });
  }

  /**
   * Approves the step of `machine` in the run. Refused unless the machine waits for approval in
   * this run and this plan, the request has not expired, the approver did not start the run (unless
   * the policy allows it) and has not approved it already.
   */
  async approve(runId: string, machine: string, by: Actor, plan?: string): Promise<ApprovalStatus> {
    const job = await this.activeJob(runId);
    const required = await this.checkWaiting(job, machine, plan);
    const { policy, request } = job.data;
    await this.checkPreview(job, machine, by);
    if (!policy.selfApproval && by.id === request.requestedBy.id)
      throw new RunControlError(
        `${by.name} started run ${runId} and may not approve it: self-approval is turned off, another approver must`,
        { operatorHint: ' (LAB_SELF_APPROVAL=1 allows it)' },
      );
    const { redis, keys } = this.runs;
    const approval: Approval = { by: by.name, at: new Date().toISOString() };
    const recorded = (await redis.eval(
      APPROVE,
      2,
      keys.approvers(runId, machine),
      keys.approvals(runId, machine),
      by.id,
      String(required),
      JSON.stringify(approval),
    )) as number;
    if (recorded === -1) throw alreadyApproved(runId, machine, required);
    if (recorded === 0)
      throw new RunControlError(
        `${by.name} has already approved ${machine} in run ${runId}` +
          (required > 1 ? `; it needs ${required} distinct approvers` : ''),
      );
    await this.wake(job);
    const approvals = await this.approvals(runId, machine);
    return { machine, required, approvals, complete: approvals.length >= required };
  }

  /** Records the machine's change preview for its approval request (the worker, when it first asks). */
  async setPreview(runId: string, machine: string, preview: ApprovalPreview): Promise<void> {
    await this.runs.redis.hset(this.runs.keys.control(runId), `preview:${machine}`, JSON.stringify(preview));
  }

  /**
   * A deploy's Approve is bound to the change preview its request showed: the run's plan and store
   * paths (the preview's digest). When the flake now evaluates to other systems, what was shown is
   * not what the flake says any more: the approval is void, recorded (the run is cancelled, saying
   * so) and refused with the reason.
   */
  private async checkPreview(job: Job<RunJobData>, machine: string, by: Actor): Promise<void> {
    const runId = job.id as string;
    const { state } = job.data;
    if (state.kind !== 'deploy') return;
    const shown = (await this.read(runId)).previews[machine];
    if (!shown) return;
    const names = Object.keys(state.systems ?? {});
    const current = await this.runs.systems(state.flake, names);
    if (runPreviewDigest(state, current) === shown.digest) return;
    const differ = names.filter((name) => current.get(name) !== state.systems?.[name]);
    const reason =
      `the flake changed since the change preview of ${machine} (${shown.digest}): it evaluates to other systems ` +
      `for ${differ.join(', ') || 'the run'} than run ${runId} built, so ${by.name}'s approval is void`;
    await this.record(job, `void:${machine}`, { by: by.name, at: new Date().toISOString(), reason });
    throw new RunControlError(
      `${reason}; the run is cancelled: deploy again to see what it would change now`,
    );
  }

  /** Denies the step of `machine`: the run is cancelled with nothing more touched. */
  async deny(runId: string, machine: string, by: Actor, plan?: string): Promise<void> {
    const job = await this.activeJob(runId);
    const required = await this.checkWaiting(job, machine, plan);
    // Approved already: the run goes on (or went on) with it, so a denial would change nothing.
    if ((await this.approvals(runId, machine)).length >= required)
      throw alreadyApproved(runId, machine, required);
    await this.record(job, `denied:${machine}`, { by: by.name, at: new Date().toISOString() });
  }

  /**
   * Starts `machine` now although its maintenance window is closed (Start now). Refused unless it
   * waits for its window in this run and this plan; the self-approval rule applies to a machine
   * whose criticality needs approvals, and it still needs those approvals before it is touched.
   */
  async startNow(runId: string, machine: string, by: Actor, plan?: string): Promise<void> {
    const job = await this.activeJob(runId);
    const { state, policy, planId, request } = job.data;
    if (plan !== undefined && plan !== planId)
      throw new RunControlError(`run ${runId} has another plan than the one shown (${plan}); look again`);
    const target = state.machines[machine];
    if (!target) throw new RunControlError(`${machine} is not part of run ${runId}`);
    if ((state.progress[machine]?.windowWait ?? null) === null)
      throw new RunControlError(
        `${machine} is not waiting for its maintenance window in run ${runId} (yet, or any more)`,
      );
    if ((await this.read(runId)).startNow[machine])
      throw new RunControlError(`${machine} is already being started now in run ${runId}`);
    if (
      policy.required[target.criticalityLevel] > 0 &&
      !policy.selfApproval &&
      by.id === request.requestedBy.id
    )
      throw new RunControlError(
        `${by.name} started run ${runId} and may not start ${machine} outside its window: self-approval is turned off, another approver must`,
        { operatorHint: ' (LAB_SELF_APPROVAL=1 allows it)' },
      );
    await this.record(job, `start-now:${machine}`, { by: by.name, at: new Date().toISOString() });
  }

  /** Retry, skip or abort a halted run. */
  async decide(runId: string, decision: Decision, by: Actor): Promise<void> {
    const job = await this.activeJob(runId);
    const { state } = job.data;
    if (state.status !== 'halted' || !state.halt)
      throw new RunControlError(
        `run ${runId} is ${state.status}, not halted after a failure: nothing to ${decision}`,
      );
    if (Date.now() >= state.halt.expiresAt)
      throw new RunControlError(`run ${runId} waited for a decision until it expired: it is being aborted`);
    if (decision === 'skip' && state.halt.machine === null)
      throw new RunControlError(
        `run ${runId} failed to build: retry or abort it (there is no machine to skip)`,
      );
    const request: DecisionRequest = {
      decision,
      by: by.name,
      at: new Date().toISOString(),
      haltAt: state.halt.at,
    };
    await this.record(job, 'decision', request);
  }

  /** Removes a decision once applied. */
  async clearDecision(runId: string): Promise<void> {
    await this.runs.redis.hdel(this.runs.keys.control(runId), 'decision');
  }

  private async checkWaiting(job: Job<RunJobData>, machine: string, plan?: string): Promise<number> {
    const { state, policy, planId } = job.data;
    const runId = job.id as string;
    if (plan !== undefined && plan !== planId)
      throw new RunControlError(`run ${runId} has another plan than the one approved (${plan}); look again`);
    const target = state.machines[machine];
    if (!target) throw new RunControlError(`${machine} is not part of run ${runId}`);
    const required = policy.required[target.criticalityLevel];
    if (required === 0)
      throw new RunControlError(`${machine} (${target.criticalityLevel}) needs no approval`);
    const control = await this.read(runId);
    const since = control.waitingSince[machine];
    if (since === undefined)
      throw new RunControlError(`${machine} is not waiting for approval in run ${runId} (yet, or any more)`);
    if (Date.now() >= since + policy.timeout * 1000)
      throw new RunControlError(`the approval request for ${machine} in run ${runId} has expired`);
    if (control.denials[machine]) throw new RunControlError(`${machine} was denied in run ${runId}`);
    return required;
  }

  private async activeJob(runId: string): Promise<Job<RunJobData>> {
    const job = await this.runs.job(runId);
    if (!job)
      throw new RunNotFoundError(`no run ${runId} in queue ${this.runs.config.queue}`, {
        operatorHint: ' (lab status lists runs)',
      });
    if (isRunDone(job.data.state.status) || ['completed', 'failed'].includes(await job.getState()))
      throw new RunControlError(`run ${runId} is already ${job.data.state.status}`);
    return job;
  }

  /** Stores the request, bumps the version, tells workers, and wakes the job if it is parked. */
  private async record(job: Job<RunJobData>, field: string, value: unknown): Promise<void> {
    const { redis, keys } = this.runs;
    const runId = job.id as string;
    await redis.hset(keys.control(runId), field, JSON.stringify(value));
    await this.wake(job);
  }

  private async wake(job: Job<RunJobData>): Promise<void> {
    const { redis, keys } = this.runs;
    const runId = job.id as string;
    await redis.hincrby(keys.control(runId), 'version', 1);
    await redis.publish(keys.controlChannel, runId);
    try {
      if ((await job.getState()) === 'delayed') await job.promote();
    } catch {
      // Not parked any more: the worker that has it reads the new version before it parks again.
    }
  }
}
