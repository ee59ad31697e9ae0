import { waitUntilHealthy } from '../domain/health/check-machine.js';
import { describeUnhealthy, type MachineHealth } from '../domain/health/check-result.js';
import type { Machine } from '../domain/inventory/schema.js';
import { RebootTimeoutError } from '../domain/reboot/errors.js';
import type { RebootHost } from '../domain/reboot/reboot-host.js';
import { pause } from '../util/pause.js';
import {
  type FinishedStatus,
  type RebootPhase,
  type RunEventInput,
  type RunEventListener,
  stampEvent,
} from './run-events.js';
import {
  type ApprovalOutcome,
  type Decision,
  RunCancelled,
  RunParked,
  RunStops,
  stopFor,
  throwIfStopped,
} from './run-flow.js';
import {
  isFinished,
  isRunDone,
  type MachineProgress,
  type RebootRunState,
  rebootOutcome,
  rebootSent,
  rebootTimesOf,
} from './run-state.js';

export interface RunWaiting {
  /**
   * Waits until `until` (epoch ms). In-process this is a pause; a queue driver parks the job
   * instead (throws RunParked) when the wait is long.
   */
  readonly until?: (until: number, why: string, signal?: AbortSignal) => Promise<void>;
  /**
   * How long to poll actively for a machine to come back before parking the run (throwing
   * RunParked for `parkPollMs`). Unset: wait actively until the reboot deadline.
   */
  readonly activeMs?: number;
  readonly parkPollMs?: number;
}

export interface RebootRunPorts {
  readonly host: RebootHost;
  /**
   * Asks whether a machine may reboot (its criticality needs it). Not approved cancels the run;
   * a queue driver may throw RunParked while it waits for approvers.
   */
  readonly confirm: (machine: Machine) => Promise<ApprovalOutcome>;
  /** Called after every change of the state, e.g. to persist it. */
  readonly checkpoint?: (state: RebootRunState) => void | Promise<void>;
  /** How long to wait between health attempts (default 500 ms). */
  readonly healthIntervalMs?: number;
  readonly waiting?: RunWaiting;
  /**
   * When set, a failed step halts the run (an alert; the operator retries, skips or aborts)
   * for at most this long instead of finishing it as failed.
   */
  readonly haltForMs?: number;
}

/** The shortest active wait for a machine to come back before the run parks again. */
const MIN_ACTIVE_MS = 1_000;

/** Thrown inside a machine's procedure: the phase and reason recorded for it. */
class PhaseFailure extends Error {
  constructor(
    readonly phase: RebootPhase,
    reason: string,
  ) {
    super(reason);
  }
}

/**
 * Carries out a reboot run: step after step, the machines of a step together, each through
 * delay → confirmation → reboot command → coming back (new boot id) → health → stability.
 * A failure halts the run before the next step. A cancel stops every machine whose reboot
 * command was not sent yet, and no later step starts; a machine whose reboot command was sent is
 * seen back (within its deadlines) and checked healthy first, so that the run reports what
 * really became of it. A park stops everything between phases. The state is
 * advanced in place and checkpointed after every change, so `run` also resumes a state that
 * was interrupted: finished phases are not repeated, and a reboot command that may have been
 * sent is reconciled with the machine's boot id instead of being sent twice.
 */
export class RebootRun {
  private readonly listeners: RunEventListener[] = [];

  constructor(
    readonly state: RebootRunState,
    private readonly ports: RebootRunPorts,
  ) {}

  on(listener: RunEventListener): this {
    this.listeners.push(listener);
    return this;
  }

  /**
   * Runs (or resumes) to the end. Resolves with the state once it is finished or halted;
   * rejects with RunParked when it must wait and is parked (the state is saved).
   */
  async run(signal?: AbortSignal): Promise<RebootRunState> {
    const { state } = this;
    if (isRunDone(state.status) || state.status === 'halted') return state;
    if (state.status === 'pending') {
      if (state.cancelReason !== null) return this.finish('cancelled', state.cancelReason);
      state.status = 'running';
      state.startedAt = Date.now();
      this.report({ type: 'run.started', kind: 'reboot', steps: state.steps });
      await this.save();
    }
    const stops = new RunStops(signal, state.cancelReason, (stop) => this.cancelling(stop.reason));
    try {
      while (state.step < state.steps.length) {
        const names = state.steps[state.step] as readonly string[];
        // Stopped: only machines already changed are still worked on.
        if (stops.beforeChange.aborted && this.inFlight().length === 0) throw stopFor(stops.beforeChange);
        this.report({ type: 'step.started', step: state.step + 1, machines: names });
        const results = await Promise.all(names.map((name) => this.rebootMachine(name, stops)));
        if (stops.park) throw stops.park;
        const parks = results.filter((result): result is RunParked => result instanceof RunParked);
        if (stops.cancel) {
          // A changed machine that parked (it takes long to come back) is seen to the end later.
          const inFlight = this.inFlight();
          const changed = results.filter(
            (result, index): result is RunParked =>
              result instanceof RunParked && inFlight.includes(names[index] as string),
          );
          if (changed.length > 0) throw earliest(changed);
          throw stops.cancel;
        }
        const failed = names.find((name) => this.progress(name).phase === 'failed');
        if (failed) {
          this.report({ type: 'step.finished', step: state.step + 1, ok: false });
          return await this.stepFailed(failed);
        }
        if (parks.length > 0) throw earliest(parks);
        this.report({ type: 'step.finished', step: state.step + 1, ok: true });
        state.step += 1;
        await this.save();
      }
      return await this.finish('succeeded');
    } catch (error) {
      if (error instanceof RunCancelled) return await this.finish('cancelled', error.reason);
      if (error instanceof RunParked) await this.save();
      throw error;
    } finally {
      stops.dispose();
    }
  }

  /**
   * Cancels the run. A pending or halted run ends at once (nothing is in flight); a running one
   * goes on only with the machines whose reboot command was sent, until each is back and
   * healthy (or failed), then ends as cancelled. Rejects with RunParked like `run`.
   */
  async cancel(reason: string, signal?: AbortSignal): Promise<RebootRunState> {
    const { state } = this;
    if (isRunDone(state.status)) return state;
    if (state.status !== 'running') {
      state.halt = null;
      return this.finish('cancelled', reason);
    }
    if (state.cancelReason === null) this.cancelling(reason);
    return this.run(signal);
  }

  /** An operator's answer to a halt: retry the failed machines, skip them, or abort the run. */
  async decide(decision: Decision, by: string): Promise<void> {
    const { state } = this;
    if (state.status !== 'halted' || !state.halt) return;
    this.report({ type: 'run.decided', decision, by });
    if (decision === 'abort') {
      const { halt } = state;
      state.halt = null;
      await this.finish('aborted', `aborted by ${by} after ${halt.machine ?? 'the run'} failed`);
      return;
    }
    for (const name of state.steps[state.step] ?? []) {
      const progress = this.progress(name);
      if (progress.phase !== 'failed' || !progress.error) continue;
      if (decision === 'skip') {
        progress.phase = 'skipped';
        progress.skipReason = `skipped by ${by} after failing at ${progress.error.phase}: ${progress.error.reason}`;
      } else {
        progress.phase = retryPhase(progress.error.phase);
        if (progress.phase === 'rebooting') {
          progress.bootIdBefore = null;
          progress.downAt = null;
        }
        if (progress.phase === 'rebooting' || progress.phase === 'coming-back')
          progress.rebootSentAt = progress.phase === 'coming-back' ? Date.now() : null;
        progress.error = null;
        progress.finishedAt = null;
      }
    }
    state.halt = null;
    state.status = 'running';
    await this.save();
  }

  /** Finishes the run now: an internal error (failed), a halt nobody decided on (aborted). */
  async end(status: 'failed' | 'cancelled' | 'aborted', reason: string): Promise<RebootRunState> {
    if (isRunDone(this.state.status)) return this.state;
    this.state.halt = null;
    return this.finish(status, reason);
  }

  /** Emits an event for this run (the engine's, or a driver's such as approval requests). */
  report(event: RunEventInput): void {
    const stamped = stampEvent(event, this.state.id, this.state.startedAt);
    for (const listener of this.listeners) listener(stamped);
  }

  /** Returns the stop that ended the machine's procedure early, if one did. */
  private async rebootMachine(name: string, stops: RunStops): Promise<RunParked | RunCancelled | null> {
    const progress = this.progress(name);
    const machine = this.state.machines[name] as Machine;
    if (isFinished(progress.phase)) {
      if (progress.phase === 'skipped')
        this.report({ type: 'machine.skipped', machine: name, reason: progress.skipReason ?? 'skipped' });
      return null;
    }
    if (stops.beforeChange.aborted && !rebootSent(progress)) return stopFor(stops.beforeChange);
    progress.startedAt ??= Date.now();
    try {
      await this.phases(machine, progress, stops);
      progress.phase = 'succeeded';
      progress.finishedAt = Date.now();
      this.report({
        type: 'machine.succeeded',
        machine: name,
        what: 'rebooted',
        durationMs: progress.finishedAt - progress.startedAt,
        ...rebootTimesOf(progress),
      });
      await this.save();
      return null;
    } catch (error) {
      if (error instanceof RunCancelled) {
        // A denial or an expired approval: the other machines stop too, as for any cancel.
        stops.stop(error);
        return error;
      }
      if (error instanceof RunParked) return error;
      if (!(error instanceof PhaseFailure)) {
        if (stops.park) return stops.park;
        if (stops.beforeChange.aborted && !rebootSent(progress)) return stopFor(stops.beforeChange);
      }
      const phase = error instanceof PhaseFailure ? error.phase : phaseName(progress.phase);
      const reason = (error as Error).message;
      progress.phase = 'failed';
      progress.error = { phase, reason };
      progress.finishedAt = Date.now();
      this.report({ type: 'machine.failed', machine: name, phase, reason });
      await this.save();
      return null;
    }
  }

  /**
   * The phases from wherever the machine's progress stands. Until its reboot command is sent a
   * cancel stops it (`beforeChange`); from then on only a park does (`afterChange`).
   */
  private async phases(machine: Machine, progress: MachineProgress, stops: RunStops): Promise<void> {
    const { settings } = this.state;
    const signal = stops.beforeChange;
    const after = stops.afterChange;
    const { host } = this.ports;
    const checkpoint = (phase: MachineProgress['phase']) => {
      progress.phase = phase;
      return this.save();
    };

    if (progress.phase === 'pending') {
      progress.delayUntil = Date.now() + machine.rebootDelay * 1000;
      await checkpoint('delay');
    }
    if (progress.phase === 'delay') {
      const until = progress.delayUntil ?? 0;
      if (until > Date.now()) {
        this.report({
          type: 'machine.waiting',
          machine: machine.name,
          reason: 'delay',
          seconds: Math.ceil((until - Date.now()) / 1000),
        });
        await this.waitUntil(until, `rebootDelay of ${machine.name}`, signal);
      }
      throwIfStopped(signal);
      await checkpoint('confirmation');
    }
    if (progress.phase === 'confirmation') {
      if (settings.confirmLevels.includes(machine.criticalityLevel) && !progress.confirmed) {
        progress.approvalAskedAt ??= Date.now();
        const outcome = await this.ports.confirm(machine);
        if (!outcome.approved) throw new RunCancelled(outcome.reason);
        progress.confirmed = true;
        // When the last approver clicked, not when this run woke up to it.
        progress.approvedAt = Math.max(0, ...outcome.approvals.map((a) => Date.parse(a.at))) || Date.now();
        progress.approvals = [...outcome.approvals];
        this.report({ type: 'machine.confirmed', machine: machine.name, approvals: outcome.approvals });
      }
      throwIfStopped(signal);
      await checkpoint('rebooting');
    }
    if (progress.phase === 'rebooting') {
      if (progress.rebootSentAt === null) {
        // A bootIdBefore without rebootSentAt: interrupted around the reboot command.
        const sent =
          progress.bootIdBefore !== null && (await this.rebootedSince(machine, progress.bootIdBefore));
        if (!sent) {
          const bootId = progress.bootIdBefore ?? (await failAs('reboot command', host.bootId(machine)));
          if (signal.aborted) {
            // Stopped before the command: the machine is not touched.
            progress.bootIdBefore = null;
            throw stopFor(signal);
          }
          progress.bootIdBefore = bootId;
          await this.save();
          this.report({ type: 'machine.rebooting', machine: machine.name, bootId: progress.bootIdBefore });
          await failAs('reboot command', host.sendReboot(machine, settings.rebootCommand));
        }
        progress.rebootSentAt = Date.now();
      }
      await checkpoint('coming-back');
    }
    if (progress.phase === 'coming-back') {
      const previous = progress.bootIdBefore as string;
      const deadline = (progress.rebootSentAt ?? Date.now()) + settings.rebootTimeout * 1000;
      const { activeMs, parkPollMs = 5_000 } = this.ports.waiting ?? {};
      // Every wake polls for a moment at least (LAB_ACTIVE_WAIT=0 would never look at the machine).
      const activeFor = activeMs === undefined ? undefined : Math.max(activeMs, MIN_ACTIVE_MS);
      const activeUntil = activeFor === undefined ? deadline : Math.min(deadline, Date.now() + activeFor);
      let back: { bootId: string; downMs: number };
      try {
        back = await host.waitForNewBoot(machine, previous, {
          deadline: activeUntil,
          signal: after,
          onDown: () => {
            // Kept across parks: a machine down for longer than one poll is down since the first.
            progress.downAt ??= Date.now();
            this.report({ type: 'machine.down', machine: machine.name });
          },
        });
      } catch (error) {
        throwIfStopped(after);
        if (error instanceof RebootTimeoutError && activeUntil < deadline)
          throw new RunParked(Math.min(deadline, Date.now() + parkPollMs), `${machine.name} to come back`);
        throw new PhaseFailure('coming back', (error as Error).message);
      }
      throwIfStopped(after);
      progress.bootIdAfter = back.bootId;
      // Unknown (null) when it was not seen down: it came back between two polls, or before a
      // resumed run looked.
      progress.downMs = progress.downAt ? Date.now() - progress.downAt : null;
      this.report({
        type: 'machine.up',
        machine: machine.name,
        bootId: back.bootId,
        previousBootId: previous,
        downMs: progress.downMs ?? back.downMs,
      });
      await checkpoint('health');
    }
    if (progress.phase === 'health') {
      const health = await this.waitHealthy(machine, settings.healthTimeout, after);
      if (!health.ok) throw new PhaseFailure('health', describeUnhealthy(health, settings.healthTimeout));
      progress.healthyAt = Date.now();
      await checkpoint('stability');
    }
    if (progress.phase === 'stability' && settings.stabilityWindow > 0) {
      const until = Date.now() + settings.stabilityWindow * 1000;
      while (Date.now() < until) {
        await pause(Math.min(this.ports.healthIntervalMs ?? 1000, until - Date.now()), after);
        throwIfStopped(after);
        const health = await this.ports.host.checkHealth(machine);
        if (!health.ok) {
          this.reportHealth(machine.name, health, 0);
          throw new PhaseFailure(
            'stability',
            `${describeUnhealthy(health)} during the ${settings.stabilityWindow} s stability window`,
          );
        }
      }
    }
  }

  /**
   * Whether the reboot command was sent before the run was interrupted: the machine is down,
   * runs another boot than `bootId`, or is shutting down (it received the command and still
   * answers while it stops its services: sending it again would be a second reboot command).
   */
  private async rebootedSince(machine: Machine, bootId: string): Promise<boolean> {
    const { host } = this.ports;
    try {
      if ((await host.bootId(machine)) !== bootId) return true;
      return (await host.shuttingDown?.(machine)) === true;
    } catch {
      return true;
    }
  }

  private waitUntil(until: number, why: string, signal?: AbortSignal): Promise<void> {
    const wait = this.ports.waiting?.until;
    return wait ? wait(until, why, signal) : pause(until - Date.now(), signal);
  }

  private async waitHealthy(machine: Machine, timeout: number, signal?: AbortSignal): Promise<MachineHealth> {
    const health = await waitUntilHealthy(() => this.ports.host.checkHealth(machine), {
      deadline: Date.now() + timeout * 1000,
      intervalMs: this.ports.healthIntervalMs,
      signal,
      onChange: (result, attempt) => this.reportHealth(machine.name, result, attempt),
    });
    if (signal?.aborted && !health.ok) throw stopFor(signal);
    return health;
  }

  private reportHealth(machine: string, health: MachineHealth, attempt: number): void {
    this.progress(machine).lastChecks = [...health.checks];
    this.report({ type: 'machine.health', machine, ok: health.ok, attempt, checks: health.checks });
  }

  /** A step failed: finish the run as failed, or halt it for an operator's decision. */
  private async stepFailed(name: string): Promise<RebootRunState> {
    const { state } = this;
    const progress = this.progress(name);
    if (this.ports.haltForMs === undefined || !progress.error) return this.finish('failed');
    const now = Date.now();
    const checks =
      progress.error.phase === 'health' || progress.error.phase === 'stability'
        ? (progress.lastChecks ?? []).filter((check) => !check.ok)
        : [];
    state.status = 'halted';
    state.halt = { machine: name, ...progress.error, checks, at: now, expiresAt: now + this.ports.haltForMs };
    await this.save();
    this.report({
      type: 'run.halted',
      machine: name,
      ...progress.error,
      checks,
      decisions: ['retry', 'skip', 'abort'],
      expiresAt: new Date(state.halt.expiresAt).toISOString(),
    });
    return state;
  }

  /**
   * The run is being cancelled: recorded (a resumed run goes on cancelling), and announced with
   * the machines that are seen to the end first, if any.
   */
  private cancelling(reason: string): void {
    this.state.cancelReason = reason;
    const finishing = this.inFlight();
    if (finishing.length === 0) return;
    // Saved before the event is appended, so whoever reads the state on the event sees it.
    this.save().catch(() => {}); // a save that fails stops the run at its next checkpoint
    this.report({ type: 'run.cancelling', reason, finishing });
  }

  /** The machines of the current step whose reboot command was sent and which are not done. */
  private inFlight(): string[] {
    return (this.state.steps[this.state.step] ?? []).filter((name) => {
      const progress = this.progress(name);
      return rebootSent(progress) && !isFinished(progress.phase);
    });
  }

  private async finish(status: FinishedStatus, reason: string | null = null): Promise<RebootRunState> {
    const { state } = this;
    state.status = status;
    state.finishedAt = Date.now();
    if (status === 'cancelled') state.cancelReason = reason;
    if (status === 'aborted') state.abortReason = reason;
    const failed = Object.entries(state.progress).find(([, progress]) => progress.phase === 'failed');
    const failure = failed?.[1].error ? { machine: failed[0], ...failed[1].error } : null;
    const outcomes = state.steps
      .flat()
      .map((machine) => ({ machine, outcome: rebootOutcome(this.progress(machine)) }));
    const pending = outcomes.filter((entry) => entry.outcome === 'not touched').map((entry) => entry.machine);
    await this.save();
    this.report({ type: 'run.finished', status, failure, pending, reason, outcomes });
    return state;
  }

  private progress(name: string): MachineProgress {
    return this.state.progress[name] as MachineProgress;
  }

  private save(): Promise<void> {
    return Promise.resolve(this.ports.checkpoint?.(this.state));
  }
}

/** The park that ends first. */
function earliest(parks: readonly RunParked[]): RunParked {
  return [...parks].sort((a, b) => a.until - b.until)[0] as RunParked;
}

async function failAs<T>(phase: RebootPhase, promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw new PhaseFailure(phase, (error as Error).message);
  }
}

function phaseName(phase: MachineProgress['phase']): RebootPhase {
  switch (phase) {
    case 'pending':
    case 'delay':
      return 'delay';
    case 'confirmation':
      return 'confirmation';
    case 'rebooting':
      return 'reboot command';
    case 'coming-back':
      return 'coming back';
    case 'stability':
      return 'stability';
    default:
      return 'health';
  }
}

/** Where a retry of a machine that failed in `phase` starts. */
function retryPhase(phase: RebootPhase): MachineProgress['phase'] {
  switch (phase) {
    case 'delay':
      return 'delay';
    case 'confirmation':
      return 'confirmation';
    case 'reboot command':
      return 'rebooting';
    case 'coming back':
      return 'coming-back';
    case 'health':
      return 'health';
    case 'stability':
      return 'stability';
  }
}
