import type { RollbackCheck } from '../domain/deploy/rollback-check.js';
import type { CheckResult } from '../domain/health/check-result.js';
import type { PowerStepResult } from '../domain/power/power-control.js';
import type { Approval, Decision } from './run-flow.js';

/** Where a machine's reboot failed, in words an operator reads. */
export type RebootPhase =
  | 'delay'
  | 'confirmation'
  | 'reboot command'
  | 'coming back'
  | 'health'
  | 'stability';

/** Where a deploy failed. */
export type DeployPhase = 'build' | 'copy' | 'activation' | 'health' | 'commit';

/** Where a power run failed (its approval is `confirmation`). */
export type PowerPhase = 'confirmation' | 'power';

/** `maintenance window`: no opening of the machine's window is long enough for it (window-gate.ts). */
export type Phase = RebootPhase | DeployPhase | PowerPhase | 'maintenance window';

/** How a run ended. `aborted`: a halted run that an operator aborted, or that nobody decided on. */
export type FinishedStatus = 'succeeded' | 'failed' | 'cancelled' | 'aborted';

/**
 * What became of a machine when its run ended, as the run read it from the machine:
 * - `rebooted`, `deployed`: done, back and healthy (a deploy: activated and committed);
 * - `powered`: a power run's action was carried out (its machine.power event says what it did);
 * - `rolled back`: its deploy failed and it was put back on the system it ran before, healthy;
 * - `failed`: its step failed (the `machine.failed` event and `failure` say where and why);
 * - `not built`: its system did not build (so nothing was done on it);
 * - `healthy`, `unhealthy`: a health run's result;
 * - `skipped`: left out (not needing a reboot, or skipped by an operator after a failure);
 * - `not touched`: the run ended before it changed anything on the machine;
 * - `unknown`: the run had changed something on it but ended before it could verify the result.
 */
export type MachineOutcome =
  | 'rebooted'
  | 'deployed'
  | 'powered'
  | 'rolled back'
  | 'failed'
  | 'not built'
  | 'healthy'
  | 'unhealthy'
  | 'skipped'
  | 'not touched'
  | 'unknown';

/** The failure that ended (or halted) a run. */
export interface RunFailure {
  /** The machine that failed; null when no single machine failed (the build). */
  readonly machine: string | null;
  readonly phase: Phase;
  readonly reason: string;
  /** When the build failed: the machines whose systems did not build. */
  readonly machines?: readonly string[];
}

interface EventBase {
  readonly runId: string;
  /** ISO timestamp. */
  readonly at: string;
  /** Milliseconds since the run started. */
  readonly elapsedMs: number;
}

/**
 * Everything a run reports. Renderers (terminal, JSON lines, Discord) consume these; the engine
 * never prints. The `type` strings and fields are a stable interface (`lab reboot --json`).
 */
export type RunEvent = EventBase &
  (
    | {
        readonly type: 'run.started';
        readonly kind: 'reboot' | 'deploy' | 'health' | 'power';
        readonly steps: readonly (readonly string[])[];
      }
    | { readonly type: 'deploy.building'; readonly machines: readonly string[] }
    | { readonly type: 'deploy.built'; readonly systems: Readonly<Record<string, string>> }
    | {
        /** The machine's turn to have its closure copied (reported at its turn, not when a copy ahead begins). */
        readonly type: 'machine.copying';
        readonly machine: string;
        readonly system: string;
        /** The copy began before the machine's turn, while earlier steps ran (LAB_COPY_CONCURRENCY). */
        readonly ahead?: boolean;
        /** ISO time the copy began: earlier than `at` when it was made ahead. */
        readonly copyStartedAt?: string;
        /** ISO time a copy made ahead was done, before the machine's turn; null if it is still under way (or began now). */
        readonly copiedAt?: string | null;
      }
    | {
        readonly type: 'machine.activating';
        readonly machine: string;
        /** switch-to-configuration's action; `boot` is blue-green's commit (the boot default, no activation). */
        readonly action: 'switch' | 'boot' | 'test';
        readonly system: string;
      }
    | {
        readonly type: 'machine.rolling-back';
        readonly machine: string;
        /** The system it ran before the deploy, and the profile generation it was on. */
        readonly to: string | null;
        readonly generation?: number | null;
      }
    | {
        readonly type: 'machine.rolled-back';
        readonly machine: string;
        /** It runs its previous system, profile and boot default agree (or the boot default is unknown), healthy. */
        readonly ok: boolean;
        /** What failed or disagrees; null when ok. */
        readonly reason: string | null;
        /** What lab read back on the machine (null when the rollback failed before it could look). */
        readonly verified?: RollbackCheck | null;
      }
    | { readonly type: 'machine.needs-reboot'; readonly machine: string; readonly changed: readonly string[] }
    | { readonly type: 'step.started'; readonly step: number; readonly machines: readonly string[] }
    | {
        readonly type: 'machine.waiting';
        readonly machine: string;
        readonly reason: 'delay';
        readonly seconds: number;
      }
    | { readonly type: 'machine.waiting'; readonly machine: string; readonly reason: 'confirmation' }
    | {
        readonly type: 'machine.waiting';
        readonly machine: string;
        readonly reason: 'approval';
        /** Distinct approvers needed, and the approvals so far. */
        readonly required: number;
        readonly approvals: readonly Approval[];
        /** ISO time at which the request expires and the run is cancelled. */
        readonly expiresAt: string;
      }
    | {
        readonly type: 'machine.waiting';
        readonly machine: string;
        /** Its reboot or activation may start only inside its maintenance window (window-gate.ts). */
        readonly reason: 'window';
        /** ISO times of the opening it waits for: when it opens and closes. */
        readonly opensAt: string;
        readonly closesAt: string;
        /** Why it cannot start now: outside its window, or the window closes before it could finish. */
        readonly why: string;
      }
    | {
        /** Started outside its maintenance window: an operator's Start now. */
        readonly type: 'machine.window-forced';
        readonly machine: string;
        readonly by: string;
      }
    | {
        readonly type: 'machine.confirmed';
        readonly machine: string;
        readonly approvals: readonly Approval[];
      }
    | { readonly type: 'machine.rebooting'; readonly machine: string; readonly bootId: string }
    | { readonly type: 'machine.down'; readonly machine: string }
    | {
        readonly type: 'machine.up';
        readonly machine: string;
        readonly bootId: string;
        readonly previousBootId: string;
        readonly downMs: number;
      }
    | {
        readonly type: 'machine.health';
        readonly machine: string;
        readonly ok: boolean;
        readonly attempt: number;
        readonly checks: readonly CheckResult[];
      }
    | {
        readonly type: 'machine.succeeded';
        readonly machine: string;
        readonly what: 'rebooted' | 'deployed' | 'powered';
        /** From the start of its procedure (rebootDelay and approvals included) to the end. */
        readonly durationMs: number;
        /** Reboots: how long it was down (null when that was not seen). */
        readonly downMs?: number | null;
        /** Reboots: from the reboot command until its health checks were green. */
        readonly healthyMs?: number | null;
        /** How long it waited for approval or confirmation (null when it needed none). */
        readonly approvalWaitMs?: number | null;
      }
    | {
        readonly type: 'machine.failed';
        readonly machine: string;
        readonly phase: Phase;
        readonly reason: string;
      }
    | { readonly type: 'machine.skipped'; readonly machine: string; readonly reason: string }
    | {
        /** A power action on the machine (on, off, cycle, status), by an operator or lab's recovery. */
        readonly type: 'machine.power';
        readonly machine: string;
        readonly action: 'on' | 'off' | 'cycle' | 'status';
        /** `operator`: asked for by `by`; `recovery`: lab's, for a machine that did not come back. */
        readonly trigger: 'operator' | 'recovery';
        readonly by: string | null;
        readonly ok: boolean;
        /** What failed (naming the machine, the method and why), null when ok. */
        readonly reason: string | null;
        /** Each command run or magic packet sent: method, argv as configured, exit code, output tail. */
        readonly steps: readonly PowerStepResult[];
      }
    | { readonly type: 'step.finished'; readonly step: number; readonly ok: boolean }
    | {
        /** A failed step halted the run: the alert. An operator retries, skips or aborts. */
        readonly type: 'run.halted';
        /** The machine that failed; null when the build failed (`machines` names whose systems). */
        readonly machine: string | null;
        readonly machines?: readonly string[];
        readonly phase: Phase;
        readonly reason: string;
        /** The machine's failing health checks, when health failed. */
        readonly checks: readonly CheckResult[];
        readonly decisions: readonly Decision[];
        /** ISO time after which the run is aborted if nobody decides. */
        readonly expiresAt: string;
      }
    | { readonly type: 'run.decided'; readonly decision: Decision; readonly by: string }
    | {
        /**
         * The run is being cancelled: nothing new starts, but the machines it had already changed
         * (`finishing`: a reboot command sent, an activation started) are seen to the end first.
         */
        readonly type: 'run.cancelling';
        readonly reason: string;
        readonly finishing: readonly string[];
      }
    | {
        readonly type: 'run.finished';
        readonly status: FinishedStatus;
        /** The first failure; `machine` is null when no single machine failed (a build). */
        readonly failure: RunFailure | null;
        /** The machines the run did not touch (nothing was changed on them), in run order. */
        readonly pending: readonly string[];
        /** Why a run was cancelled or aborted (who, a denial, an expired approval or halt), else null. */
        readonly reason: string | null;
        /** What became of every machine of the run, in run order. */
        readonly outcomes: readonly { readonly machine: string; readonly outcome: MachineOutcome }[];
      }
  );

/** Distributive Omit, so each event variant keeps its own fields. */
export type RunEventInput = RunEvent extends infer E
  ? E extends RunEvent
    ? Omit<E, keyof EventBase>
    : never
  : never;

export type RunEventListener = (event: RunEvent) => void;

/** Adds the run id and times to an event. */
export function stampEvent(event: RunEventInput, runId: string, startedAt: number | null): RunEvent {
  const now = Date.now();
  return {
    ...event,
    runId,
    at: new Date(now).toISOString(),
    elapsedMs: now - (startedAt ?? now),
  } as RunEvent;
}
