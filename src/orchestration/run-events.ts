import type { RollbackCheck } from '../domain/deploy/rollback-check.js';
import type { CheckResult } from '../domain/health/check-result.js';
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

export type Phase = RebootPhase | DeployPhase;

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
        readonly kind: 'reboot' | 'deploy' | 'health';
        readonly steps: readonly (readonly string[])[];
      }
    | { readonly type: 'deploy.building'; readonly machines: readonly string[] }
    | { readonly type: 'deploy.built'; readonly systems: Readonly<Record<string, string>> }
    | { readonly type: 'machine.copying'; readonly machine: string; readonly system: string }
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
        readonly what: 'rebooted' | 'deployed';
        readonly durationMs: number;
      }
    | {
        readonly type: 'machine.failed';
        readonly machine: string;
        readonly phase: Phase;
        readonly reason: string;
      }
    | { readonly type: 'machine.skipped'; readonly machine: string; readonly reason: string }
    | { readonly type: 'step.finished'; readonly step: number; readonly ok: boolean }
    | {
        /** A failed step halted the run: the alert. An operator retries, skips or aborts. */
        readonly type: 'run.halted';
        readonly machine: string | null;
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
        readonly type: 'run.finished';
        readonly status: 'succeeded' | 'failed' | 'cancelled';
        /** The first failure; `machine` is null when no single machine failed (a build). */
        readonly failure: {
          readonly machine: string | null;
          readonly phase: Phase;
          readonly reason: string;
        } | null;
        /** Where a cancelled run stopped: the machines that were not done. */
        readonly pending: readonly string[];
        /** Why a run was cancelled (who cancelled, a denial, an expired approval), else null. */
        readonly reason: string | null;
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
