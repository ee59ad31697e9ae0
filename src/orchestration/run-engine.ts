import { waitUntilHealthy } from '../domain/health/check-machine.js';
import type { MachineHealth } from '../domain/health/check-result.js';
import type { Machine } from '../domain/inventory/schema.js';
import { mapConcurrent } from '../util/map-concurrent.js';
import { pause } from '../util/pause.js';
import { isMachineDone, type PhaseTable, phaseInfo, retryOf } from './phases.js';
import {
  type FinishedStatus,
  type MachineOutcome,
  type Phase,
  type RunEventInput,
  type RunEventListener,
  type RunFailure,
  stampEvent,
} from './run-events.js';
import {
  type ApprovalPort,
  type Decision,
  decisionsFor,
  type Halt,
  RunCancelled,
  RunParked,
  RunStops,
  stopFor,
  throwIfStopped,
} from './run-flow.js';
import {
  isRunDone,
  type MachineProgress,
  type RunState,
  type RunStep,
  runMachines,
  stepMachines,
} from './run-state.js';

/** How `RunEngine.run` ends: never by throwing a stop. */
export type RunOutcome =
  | { readonly type: 'finished'; readonly status: FinishedStatus }
  /** A step failed: the run waits for an operator's decision until `until` (epoch ms). */
  | { readonly type: 'halted'; readonly until: number }
  /** The run waits for something (a delay, approvers, a machine, another worker): resume it at `until`. */
  | { readonly type: 'parked'; readonly until: number; readonly why: string };

/** What one phase of a machine's procedure comes to. */
export type PhaseResult =
  /** Go on with this phase (a terminal one ends the machine quietly, e.g. a health result). */
  | { readonly type: 'next'; readonly phase: string }
  /**
   * Wait until `until`, then run the phase again. A short wait is waited out here; a long one
   * (or one that must always park: `park`) parks the run.
   */
  | { readonly type: 'wait'; readonly until: number; readonly why: string; readonly park?: boolean }
  /** The machine failed here (`label`: the failure phase, default the phase table's). */
  | { readonly type: 'fail'; readonly reason: string; readonly label?: Phase }
  /** The machine is done: succeeded. */
  | { readonly type: 'done' };

/** Thrown inside a procedure's phase: the failure phase and reason recorded for the machine. */
export class PhaseFailure extends Error {
  constructor(
    readonly label: Phase,
    reason: string,
  ) {
    super(reason);
    this.name = 'PhaseFailure';
  }
}

/** Awaits the promise; a failure becomes a PhaseFailure of `label` (one already labelled keeps its own). */
export async function failAs<T>(label: Phase, promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof PhaseFailure) throw error;
    throw new PhaseFailure(label, (error as Error).message);
  }
}

/** A machine's stop: null when it went its way (succeeded, failed), else the park or cancel that stopped it. */
export type MachineStop = RunParked | RunCancelled | null;

/** What the engine offers a procedure while a run runs. */
export interface RunContext {
  readonly state: RunState;
  readonly stops: RunStops;
  /** The run was already running when this engine picked it up (a worker before it was interrupted). */
  readonly resumed: boolean;
  report(event: RunEventInput): void;
  save(): Promise<void>;
  progress(name: string): MachineProgress;
  /** A cancel stops a machine until it is changed; from then on only a park does. */
  signalFor(name: string): AbortSignal;
  /** Asks for the machine's approval when its criticality needs it (see RunEngine.approve). */
  approve(machine: Machine): Promise<'approved' | 'denied' | Extract<PhaseResult, { type: 'wait' }>>;
  /** Waits until the machine's checks are green (or the deadline), reporting each change. */
  waitHealthy(
    machine: Machine,
    check: (machine: Machine) => Promise<MachineHealth>,
    timeoutS: number,
    intervalMs: number | undefined,
    signal: AbortSignal,
  ): Promise<MachineHealth>;
  reportHealth(name: string, health: MachineHealth, attempt: number): void;
  /** Records the machine as failed (machine.failed) and lets the procedure settle it (a rollback). */
  fail(name: string, label: Phase, reason: string): Promise<void>;
  /** Records the machine as succeeded (machine.succeeded). */
  succeed(name: string): Promise<void>;
}

/**
 * One kind's steps, and nothing of the lifecycle: what each phase of a machine does (`phase`),
 * and the few things a kind adds around them.
 */
export interface Procedure {
  readonly table: PhaseTable;
  /** Runs the machine's current phase. */
  phase(name: string, run: RunContext): Promise<PhaseResult>;
  /** Before the first step (a deploy's build): a failure halts the run. */
  before?(run: RunContext): Promise<RunFailure | null>;
  /** The step's machines approved one by one before any of them is touched (deploys). */
  readonly approvesBeforeStep?: boolean;
  /** The step's machines go as one (recreate): `runTogether` carries them out. */
  together?(step: RunStep): boolean;
  runTogether?(names: readonly string[], run: RunContext): Promise<MachineStop[]>;
  /** At most this many machines of a step at once (default all). */
  readonly concurrency?: number;
  /** step.started and step.finished are reported (not for health runs). */
  readonly announcesSteps: boolean;
  /**
   * The machine moves on to `next` (set in the same synchronous turn, so that the write that
   * saves the new phase saves this too): e.g. a deploy clears the activation of the phase before.
   */
  advance?(progress: MachineProgress, next: string): void;
  /** Begun changing in this process, before the state records it (a deploy's activation). */
  changing?(name: string): boolean;
  /** What machine.succeeded says was done, and the times it adds after the duration (reboots). */
  succeeded(progress: MachineProgress): {
    what: 'rebooted' | 'deployed' | 'powered';
    times?: Record<string, number | null>;
  };
  /** The machine just failed (phase `from`), before it is reported: e.g. plan its rollback. */
  failing?(progress: MachineProgress, from: string): void;
  /** Settles a failed machine: after its failure (`fresh`), or when a resumed run finds it failed. */
  failed?(name: string, fresh: boolean, run: RunContext): Promise<void>;
  /** After the last step, before the run succeeds (a deploy looks for machines needing a reboot). */
  after?(run: RunContext): Promise<void>;
  /** A retry of a halt that had no machine (a failed build). */
  retryRun?(state: RunState): void;
  /** `run` is about to return (finished, halted or parked): end what the procedure still has going. */
  ended?(): void;
  /** The failure of a run whose steps all went through (health: an unhealthy machine), or null. */
  resultFailure?(state: RunState): RunFailure | null;
}

export interface EnginePorts<S extends RunState = RunState> {
  readonly approval?: ApprovalPort;
  /** Called after every change of the state, e.g. to persist it; the engine waits for it. */
  readonly checkpoint?: (state: S) => void | Promise<void>;
  /**
   * When set, a failed step halts the run (an alert; the operator retries, skips or aborts)
   * for at most this long instead of finishing it as failed.
   */
  readonly haltForMs?: number;
  /** Waits longer than this park the run (a queue worker); unset: every wait is waited out here. */
  readonly parkAboveMs?: number;
}

/**
 * Carries a run of any kind through its lifecycle: start (run.started), step after step the
 * machines of a step through their procedure's phases from wherever each stands (checkpointed
 * between phases), then one precedence over the step's results: a cancel first (machines already
 * changed are seen to the end), then the earliest park (so machines half-way settle), then a
 * failure halts (or fails) the run, else the next step. Decisions on a halt (retry, skip, abort)
 * follow the kind's phase table. A cancel stops everything not yet changed on a machine; a park
 * (the signal's reason: the worker stops, another took the run over) stops at once, the state
 * saved. `run` resolves with a RunOutcome; no stop is thrown across it.
 */
export class RunEngine {
  private readonly listeners: RunEventListener[] = [];

  constructor(
    readonly state: RunState,
    private readonly procedure: Procedure,
    private readonly ports: EnginePorts = {},
  ) {}

  on(listener: RunEventListener): this {
    this.listeners.push(listener);
    return this;
  }

  /** Runs (or resumes) to the end, a halt or a park. */
  async run(signal?: AbortSignal): Promise<RunOutcome> {
    const { state } = this;
    if (isRunDone(state.status)) return { type: 'finished', status: state.status as FinishedStatus };
    if (state.status === 'halted') return { type: 'halted', until: state.halt?.expiresAt ?? Date.now() };
    const resumed = state.status === 'running';
    if (state.status === 'pending') {
      if (state.cancelReason !== null) return this.finish('cancelled', state.cancelReason);
      state.status = 'running';
      state.startedAt = Date.now();
      this.report({ type: 'run.started', kind: state.kind, steps: stepMachines(state) });
      await this.save();
    }
    const stops = new RunStops(signal, state.cancelReason, (stop) => this.cancelling(stop.reason));
    const run = this.context(stops, resumed);
    try {
      const failure = (await this.procedure.before?.(run)) ?? null;
      if (failure) return await this.halt(failure);
      while (state.step < state.steps.length) {
        const step = state.steps[state.step] as RunStep;
        // Stopped: only machines already changed are still worked on.
        if (stops.beforeChange.aborted && this.inFlight().length === 0) throw stopFor(stops.beforeChange);
        if (this.procedure.announcesSteps)
          this.report({ type: 'step.started', step: state.step + 1, machines: step.machines });
        const parked = await this.approveStep(step, run);
        if (parked) throw parked;
        const results = this.procedure.together?.(step)
          ? await (this.procedure.runTogether as NonNullable<Procedure['runTogether']>)(step.machines, run)
          : await mapConcurrent(step.machines, this.procedure.concurrency ?? step.machines.length, (name) =>
              this.runMachine(name, run),
            );
        const stop = this.stepStop(step, results, stops);
        if (stop) throw stop;
        const failed = step.machines.find((name) => this.progress(name).phase === 'failed');
        if (failed) {
          if (this.procedure.announcesSteps)
            this.report({ type: 'step.finished', step: state.step + 1, ok: false });
          const error = this.progress(failed).error ?? {
            phase: phaseInfo(this.table, 'failed').label,
            reason: 'failed',
          };
          return await this.halt({ machine: failed, ...error });
        }
        if (this.procedure.announcesSteps)
          this.report({ type: 'step.finished', step: state.step + 1, ok: true });
        state.step += 1;
        await this.save();
      }
      await this.procedure.after?.(run);
      const failure2 = this.procedure.resultFailure?.(state) ?? null;
      if (failure2) return await this.finish('failed', null, failure2);
      return await this.finish('succeeded');
    } catch (error) {
      if (error instanceof RunCancelled) return await this.finish('cancelled', error.reason);
      if (error instanceof RunParked) {
        // A save refused with a park (the run is another worker's now) parks it all the same.
        const park = await this.save().then(
          () => error,
          (failure: unknown) => {
            if (failure instanceof RunParked) return failure;
            throw failure;
          },
        );
        return { type: 'parked', until: park.until, why: park.why };
      }
      throw error;
    } finally {
      stops.dispose();
      this.procedure.ended?.();
    }
  }

  /**
   * Cancels the run. A pending or halted run ends at once (nothing is in flight); a running one
   * goes on only with the machines already changed, until each is seen to its end, then ends as
   * cancelled (it may park meanwhile).
   */
  async cancel(reason: string, signal?: AbortSignal): Promise<RunOutcome> {
    const { state } = this;
    if (isRunDone(state.status)) return { type: 'finished', status: state.status as FinishedStatus };
    if (state.status !== 'running') return this.end('cancelled', reason);
    if (state.cancelReason === null) this.cancelling(reason);
    return this.run(signal);
  }

  /** An operator's answer to a halt: retry the failed machines, skip them, or abort the run. */
  async decide(decision: Decision, by: string): Promise<void> {
    const { state } = this;
    const { halt } = state;
    if (state.status !== 'halted' || !halt) return;
    this.report({ type: 'run.decided', decision, by });
    if (!halt.decisions.includes(decision) || decision === 'abort') {
      await this.end('aborted', `aborted by ${by} after ${halt.machine ?? 'the build'} failed`);
      return;
    }
    if (halt.machine === null) this.procedure.retryRun?.(state);
    const now = Date.now();
    for (const name of state.steps[state.step]?.machines ?? []) {
      const progress = this.progress(name);
      if (progress.phase !== 'failed' || !progress.error) continue;
      if (decision === 'skip') {
        progress.phase = 'skipped';
        progress.skipReason = `skipped by ${by} after failing at ${progress.error.phase}: ${progress.error.reason}`;
      } else {
        const retry = retryOf(this.table, progress.error.phase);
        state.progress[name] = {
          ...retry.reset(progress, now),
          phase: retry.from,
          error: null,
          finishedAt: null,
        };
      }
    }
    state.halt = null;
    state.status = 'running';
    await this.save();
  }

  /** Finishes the run now: an internal error (failed), a cancel, a halt nobody decided on (aborted). */
  async end(status: 'failed' | 'cancelled' | 'aborted', reason: string): Promise<RunOutcome> {
    if (isRunDone(this.state.status))
      return { type: 'finished', status: this.state.status as FinishedStatus };
    return this.finish(status, reason);
  }

  /** Emits an event for this run. */
  report(event: RunEventInput): void {
    const stamped = stampEvent(event, this.state.id, this.state.startedAt);
    for (const listener of this.listeners) listener(stamped);
  }

  private get table(): PhaseTable {
    return this.procedure.table;
  }

  /** What stops the run after its step, if anything: the one precedence of every kind. */
  private stepStop(
    step: RunStep,
    results: readonly MachineStop[],
    stops: RunStops,
  ): RunParked | RunCancelled | null {
    if (stops.park) return stops.park;
    const parks = (names: readonly string[]) =>
      results.filter(
        (result, index): result is RunParked =>
          result instanceof RunParked && names.includes(step.machines[index] as string),
      );
    if (stops.cancel) {
      // A changed machine that parked (it takes long to come back) is seen to the end later.
      const changed = parks(this.inFlight());
      return changed.length > 0 ? earliest(changed) : stops.cancel;
    }
    // Machines half-way settle before a failure halts the run.
    const waiting = parks(step.machines);
    return waiting.length > 0 ? earliest(waiting) : null;
  }

  /** Carries the machine through its phases from where it stands; returns the stop that ended it early. */
  private async runMachine(name: string, run: RunContext): Promise<MachineStop> {
    const { stops } = run;
    const progress = this.progress(name);
    if (isMachineDone(this.table, progress.phase)) {
      if (progress.phase === 'skipped')
        this.report({ type: 'machine.skipped', machine: name, reason: progress.skipReason ?? 'skipped' });
      if (progress.phase === 'failed') await this.procedure.failed?.(name, false, run);
      return null;
    }
    if (stops.park) return stops.park;
    if (stops.beforeChange.aborted && !this.changed(name)) return stopFor(stops.beforeChange);
    progress.startedAt ??= Date.now();
    try {
      for (;;) {
        const result = await this.procedure.phase(name, run);
        if (result.type === 'done') {
          await this.succeed(name);
          return null;
        }
        if (result.type === 'fail') {
          await this.fail(name, result.label ?? phaseInfo(this.table, progress.phase).label, result.reason);
          return null;
        }
        if (result.type === 'wait') {
          const signal = this.signalFor(name);
          const long =
            this.ports.parkAboveMs !== undefined && result.until - Date.now() > this.ports.parkAboveMs;
          if (result.park || long) return new RunParked(result.until, result.why);
          await pause(result.until - Date.now(), signal);
          throwIfStopped(signal);
          continue;
        }
        this.procedure.advance?.(progress, result.phase);
        progress.phase = result.phase;
        await this.save();
        if (isMachineDone(this.table, result.phase)) return null;
      }
    } catch (error) {
      if (error instanceof RunCancelled) {
        // A denial or an expired approval: the other machines stop too, as for any cancel.
        stops.stop(error);
        return error;
      }
      if (error instanceof RunParked) return error;
      if (!(error instanceof PhaseFailure)) {
        if (stops.park) return stops.park;
        if (stops.beforeChange.aborted && !this.changed(name)) return stopFor(stops.beforeChange);
      }
      const label =
        error instanceof PhaseFailure ? error.label : phaseInfo(this.table, this.progress(name).phase).label;
      await this.fail(name, label, (error as Error).message);
      return null;
    }
  }

  /** Deploys: every machine of the step that needs it is approved before any is touched. */
  private async approveStep(step: RunStep, run: RunContext): Promise<RunParked | null> {
    if (!this.procedure.approvesBeforeStep) return null;
    for (const name of step.machines) {
      if (this.progress(name).phase !== 'pending' || run.stops.beforeChange.aborted) continue;
      const answer = await this.approve(this.state.machines[name] as Machine, run.stops);
      if (answer === 'approved') await this.save();
      else if (answer !== 'denied') return new RunParked(answer.until, answer.why);
    }
    return null;
  }

  /**
   * The machine's approval when its criticality needs one and it has none yet: approved (saved
   * in its progress, machine.confirmed), denied (the run is cancelled), or a wait for approvers
   * (machine.waiting when it is news).
   */
  private async approve(
    machine: Machine,
    stops: RunStops,
  ): Promise<'approved' | 'denied' | Extract<PhaseResult, { type: 'wait' }>> {
    const { approval } = this.progress(machine.name);
    const port = this.ports.approval;
    if (!port || approval.approved || !this.state.settings.confirmLevels.includes(machine.criticalityLevel))
      return 'approved';
    approval.askedAt ??= Date.now();
    if (port.interactive)
      this.report({ type: 'machine.waiting', machine: machine.name, reason: 'confirmation' });
    const answer = await port.request(machine);
    if (answer.type === 'denied') {
      stops.stop(new RunCancelled(answer.reason));
      return 'denied';
    }
    if (answer.type === 'waiting') {
      if (answer.news)
        this.report({
          type: 'machine.waiting',
          machine: machine.name,
          reason: 'approval',
          required: answer.required,
          approvals: answer.approvals,
          expiresAt: new Date(answer.until).toISOString(),
        });
      return { type: 'wait', until: answer.until, why: `approval of ${machine.name}`, park: true };
    }
    approval.approved = true;
    // When the last approver clicked, not when this run woke up to it.
    approval.approvedAt = Math.max(0, ...answer.approvals.map((a) => Date.parse(a.at))) || Date.now();
    approval.approvals = [...answer.approvals];
    this.report({ type: 'machine.confirmed', machine: machine.name, approvals: answer.approvals });
    return 'approved';
  }

  private async succeed(name: string): Promise<void> {
    const progress = this.progress(name);
    this.procedure.advance?.(progress, 'succeeded');
    progress.phase = 'succeeded';
    progress.finishedAt = Date.now();
    const { what, times } = this.procedure.succeeded(progress);
    this.report({
      type: 'machine.succeeded',
      machine: name,
      what,
      durationMs: progress.finishedAt - (progress.startedAt ?? progress.finishedAt),
      ...times,
    });
    await this.save();
  }

  private async fail(name: string, label: Phase, reason: string): Promise<void> {
    const progress = this.progress(name);
    const from = progress.phase;
    progress.error = { phase: label, reason };
    progress.phase = 'failed';
    progress.finishedAt = Date.now();
    this.procedure.failing?.(progress, from);
    this.report({ type: 'machine.failed', machine: name, phase: label, reason });
    await this.save();
    await this.procedure.failed?.(name, true, this.current as RunContext);
  }

  /** A failure: finish the run as failed, or halt it for an operator's decision. */
  private async halt(failure: RunFailure): Promise<RunOutcome> {
    const { state } = this;
    if (this.ports.haltForMs === undefined) return this.finish('failed', null, failure);
    const now = Date.now();
    const showsChecks = Object.values(this.table.phases).some(
      (info) => info.label === failure.phase && info.showsChecks,
    );
    const lastChecks = failure.machine ? (this.progress(failure.machine).lastChecks ?? []) : [];
    const checks = showsChecks ? lastChecks.filter((check) => !check.ok) : [];
    const decisions = decisionsFor(failure.machine);
    const halt: Halt = { ...failure, checks, at: now, expiresAt: now + this.ports.haltForMs, decisions };
    state.status = 'halted';
    state.halt = halt;
    await this.save();
    this.report({
      type: 'run.halted',
      ...failure,
      checks,
      decisions,
      expiresAt: new Date(halt.expiresAt).toISOString(),
    });
    return { type: 'halted', until: halt.expiresAt };
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

  /** The machines of the current step that were changed and are not done. */
  private inFlight(): string[] {
    return (this.state.steps[this.state.step]?.machines ?? []).filter(
      (name) => this.changed(name) && !isMachineDone(this.table, this.progress(name).phase),
    );
  }

  private changed(name: string): boolean {
    return this.table.changed(this.progress(name)) || this.procedure.changing?.(name) === true;
  }

  private signalFor(name: string): AbortSignal {
    const stops = this.current?.stops;
    if (!stops) return new AbortController().signal;
    return this.changed(name) ? stops.afterChange : stops.beforeChange;
  }

  private async finish(
    status: FinishedStatus,
    reason: string | null = null,
    failure: RunFailure | null = null,
  ): Promise<RunOutcome> {
    const { state } = this;
    const failed = failure ?? (state.halt ? haltFailure(state.halt) : this.firstFailure());
    state.halt = null;
    state.status = status;
    state.finishedAt = Date.now();
    if (status === 'cancelled') state.cancelReason = reason;
    if (status === 'aborted') state.abortReason = reason;
    const outcomes = runMachines(state).map((machine) => {
      const outcome = this.table.outcome(this.progress(machine));
      const begun = outcome === 'not touched' && this.procedure.changing?.(machine) === true;
      return { machine, outcome: begun ? ('unknown' as const) : outcome };
    });
    const pending = outcomes.filter((entry) => isUntouched(entry.outcome)).map((entry) => entry.machine);
    await this.save();
    this.report({ type: 'run.finished', status, failure: failed, pending, reason, outcomes });
    return { type: 'finished', status };
  }

  private firstFailure(): RunFailure | null {
    for (const name of runMachines(this.state)) {
      const { phase, error } = this.progress(name);
      if (phase === 'failed' && error) return { machine: name, ...error };
    }
    return null;
  }

  private progress(name: string): MachineProgress {
    return this.state.progress[name] as MachineProgress;
  }

  private save(): Promise<void> {
    return Promise.resolve(this.ports.checkpoint?.(this.state));
  }

  /** The context of the run under way (its stops). */
  private current: RunContext | null = null;

  private context(stops: RunStops, resumed: boolean): RunContext {
    this.current = {
      state: this.state,
      stops,
      resumed,
      report: (event) => this.report(event),
      save: () => this.save(),
      progress: (name) => this.progress(name),
      signalFor: (name) => this.signalFor(name),
      approve: (machine) => this.approve(machine, stops),
      waitHealthy: async (machine, check, timeoutS, intervalMs, signal) =>
        waitUntilHealthy(() => check(machine), {
          deadline: Date.now() + timeoutS * 1000,
          intervalMs,
          signal,
          onChange: (health, attempt) => this.reportHealth(machine.name, health, attempt),
        }),
      reportHealth: (name, health, attempt) => this.reportHealth(name, health, attempt),
      fail: (name, label, reason) => this.fail(name, label, reason),
      succeed: (name) => this.succeed(name),
    };
    return this.current;
  }

  private reportHealth(name: string, health: MachineHealth, attempt: number): void {
    this.progress(name).lastChecks = [...health.checks];
    this.report({ type: 'machine.health', machine: name, ok: health.ok, attempt, checks: health.checks });
  }
}

/** The park that ends first. */
function earliest(parks: readonly RunParked[]): RunParked {
  return [...parks].sort((a, b) => a.until - b.until)[0] as RunParked;
}

/** Nothing was changed on a machine with this outcome (its system did not build, or it was not reached). */
const isUntouched = (outcome: MachineOutcome): boolean =>
  outcome === 'not touched' || outcome === 'not built';

/** The failure a halt was about, as run.finished reports it. */
function haltFailure(halt: Halt): RunFailure {
  return {
    machine: halt.machine,
    phase: halt.phase,
    reason: halt.reason,
    ...(halt.machines ? { machines: halt.machines } : {}),
  };
}
