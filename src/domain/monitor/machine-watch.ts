import type { CheckResult, MachineHealth } from '../health/check-result.js';
import { describeUnhealthy } from '../health/check-result.js';

/**
 * The monitor's view of one machine between runs, as thresholds decide it (Gatus' rules): it is
 * reported unhealthy (or unreachable) after `failures` consecutive failing checks and recovered
 * after `successes` consecutive passing ones. Pure: the state is plain JSON kept in Redis, and
 * `observe` returns the next state with the events to show; nothing here does I/O.
 */

/** What the thresholds say of the machine. `unknown`: not checked yet. */
export type WatchStatus = 'unknown' | 'healthy' | 'unhealthy' | 'unreachable';

export interface Thresholds {
  /** Consecutive failing checks before the machine is reported (Gatus' failure-threshold). */
  readonly failures: number;
  /** Consecutive passing checks before it is reported recovered (Gatus' success-threshold). */
  readonly successes: number;
  /**
   * A machine failing again within this long of its recovery reopens the same incident (its alert
   * is edited, nobody is paged again): flapping does not page every interval.
   */
  readonly flapWindowMs: number;
}

/** One check of the machine, as `lab health` makes it, and when. */
export interface Observation {
  readonly at: number;
  readonly reachable: boolean;
  /** The connection error when unreachable. */
  readonly error: string | null;
  readonly checks: readonly CheckResult[];
  readonly ok: boolean;
}

/** A stretch of failure that the thresholds reported, from its first failing check. */
export interface Incident {
  /** Stable for the incident's life (also across flaps): `<machine>@<since>`. */
  readonly id: string;
  /** The first failing check of the stretch (ms since epoch). */
  readonly since: number;
  /**
   * When its current stretch of failure was announced (the alert, or its reopening); null until
   * then (while silenced, say).
   */
  readonly alertedAt: number | null;
  /** When the on-call role was paged for it (its first alert); null: never. A reopening does not page. */
  readonly pagedAt: number | null;
  /** How often it came back and failed again within the flap window. */
  readonly flaps: number;
}

export interface MachineWatch {
  readonly machine: string;
  readonly status: WatchStatus;
  /** Since when the status holds (ms); for a failing status, its first failing check. */
  readonly since: number | null;
  /** Consecutive failing and passing checks, the latest included. */
  readonly failures: number;
  readonly successes: number;
  /** The first failing check of the current failing streak (null while the checks pass). */
  readonly failingSince: number | null;
  /** How many checks the monitor made of it. */
  readonly checks: number;
  readonly last: Observation | null;
  /** The open incident: the machine was reported and has not recovered yet. */
  readonly incident: Incident | null;
  /** The last incident that recovered, kept for the flap window. */
  readonly recovered: (Incident & { readonly at: number }) | null;
  /** The run handling the machine when the monitor last looked, if any: its checks pause. */
  readonly run: string | null;
}

/** What the monitor reports: alerts, their reopening while flapping, and recoveries. */
export type WatchEvent =
  | {
      readonly type: 'monitor.alert';
      readonly machine: string;
      readonly incident: string;
      readonly status: 'unhealthy' | 'unreachable';
      readonly since: number;
      readonly at: number;
      /** `unreachable: <error>` or the failing checks with their reasons. */
      readonly reason: string;
      /** The failing checks (empty when unreachable). */
      readonly checks: readonly CheckResult[];
      /** The machine has power control that can power-cycle it (set by the monitor, which knows the machine). */
      readonly powerCycle?: boolean;
    }
  | {
      /** Failing again soon after recovering: the incident's alert is reopened, nobody paged. */
      readonly type: 'monitor.reopened';
      readonly machine: string;
      readonly incident: string;
      readonly status: 'unhealthy' | 'unreachable';
      readonly since: number;
      readonly at: number;
      readonly flaps: number;
      readonly reason: string;
      readonly checks: readonly CheckResult[];
      readonly powerCycle?: boolean;
    }
  | {
      readonly type: 'monitor.recovered';
      readonly machine: string;
      readonly incident: string;
      readonly since: number;
      readonly at: number;
      /** From the first failing check to the check that completed the recovery. */
      readonly downMs: number;
    }
  | {
      /** The thresholds changed the machine's status (shown in logs; alerts are the events above). */
      readonly type: 'monitor.status';
      readonly machine: string;
      readonly from: WatchStatus;
      readonly to: WatchStatus;
      readonly at: number;
    };

/** What the monitor knows besides the check: whether the machine is silenced. */
export interface WatchContext {
  /** The id of the silence covering the machine now, else null. */
  readonly silence: string | null;
}

export function newWatch(machine: string): MachineWatch {
  return {
    machine,
    status: 'unknown',
    since: null,
    failures: 0,
    successes: 0,
    failingSince: null,
    checks: 0,
    last: null,
    incident: null,
    recovered: null,
    run: null,
  };
}

/** The check's result as an observation at `at`. */
export const observation = (health: MachineHealth, at: number): Observation => ({
  at,
  reachable: health.reachable,
  error: health.error,
  checks: health.checks,
  ok: health.ok,
});

const isFailing = (status: WatchStatus): status is 'unhealthy' | 'unreachable' =>
  status === 'unhealthy' || status === 'unreachable';

/** Why the observation fails, in the words of `lab health`. */
export function failureReason(observed: Observation): string {
  return describeUnhealthy({ machine: '', ...observed }).replace(/^health checks still failing: /, '');
}

/**
 * The next state after a check, and what to report. An incident opens when the failures reach
 * the threshold (or reopens, within the flap window of the last recovery); it is announced at
 * the first check where the machine is not silenced: paged the first time, reopened (no page)
 * after a flap. It closes after `successes` passing checks, reported as recovered only if it
 * was announced.
 */
export function observe(
  watch: MachineWatch,
  observed: Observation,
  thresholds: Thresholds,
  context: WatchContext,
): { watch: MachineWatch; events: WatchEvent[] } {
  const events: WatchEvent[] = [];
  const at = observed.at;
  let next: MachineWatch = { ...watch, checks: watch.checks + 1, last: observed, run: null };
  const setStatus = (status: WatchStatus, since: number) => {
    if (status !== next.status)
      events.push({ type: 'monitor.status', machine: watch.machine, from: next.status, to: status, at });
    next = { ...next, status, since };
  };
  if (next.recovered && at - next.recovered.at > thresholds.flapWindowMs) next = { ...next, recovered: null };

  if (observed.ok) {
    next = { ...next, successes: next.successes + 1, failures: 0, failingSince: null };
    if (next.status === 'unknown') setStatus('healthy', at);
    else if (isFailing(next.status) && next.successes >= thresholds.successes) {
      const incident = next.incident;
      setStatus('healthy', at);
      if (incident) {
        if (incident.alertedAt !== null && incident.pagedAt !== null)
          events.push({
            type: 'monitor.recovered',
            machine: watch.machine,
            incident: incident.id,
            since: incident.since,
            at,
            downMs: at - incident.since,
          });
        next = { ...next, incident: null, recovered: { ...incident, at } };
      }
    }
    return { watch: next, events };
  }

  const failingSince = next.failingSince ?? at;
  next = { ...next, failures: next.failures + 1, successes: 0, failingSince };
  const status = observed.reachable ? 'unhealthy' : 'unreachable';
  if (isFailing(next.status)) {
    // Still failing (the kind may change: a machine that stopped answering altogether).
    if (next.status !== status) setStatus(status, next.since ?? failingSince);
  } else if (next.failures >= thresholds.failures) {
    setStatus(status, failingSince);
    const reopened = next.recovered;
    next = {
      ...next,
      incident: reopened
        ? {
            id: reopened.id,
            since: reopened.since,
            alertedAt: null,
            pagedAt: reopened.pagedAt,
            flaps: reopened.flaps + 1,
          }
        : {
            id: `${watch.machine}@${failingSince}`,
            since: failingSince,
            alertedAt: null,
            pagedAt: null,
            flaps: 0,
          },
      recovered: null,
    };
  }
  const incident = next.incident;
  if (incident && incident.alertedAt === null && context.silence === null && isFailing(next.status)) {
    next = { ...next, incident: { ...incident, alertedAt: at, pagedAt: incident.pagedAt ?? at } };
    const failing = {
      machine: watch.machine,
      incident: incident.id,
      status: next.status as 'unhealthy' | 'unreachable',
      since: incident.since,
      at,
      reason: failureReason(observed),
      checks: observed.checks.filter((check) => !check.ok),
    };
    // Paged once per incident: failing again after a recovery (flapping) reopens its alert.
    events.push(
      incident.pagedAt === null
        ? { type: 'monitor.alert', ...failing }
        : { type: 'monitor.reopened', ...failing, flaps: incident.flaps },
    );
  }
  return { watch: next, events };
}

/**
 * A run is handling the machine: the monitor leaves it to the run. The streaks start again after
 * the run (a reboot's down time is not a failure); the status and an open incident stay, so an
 * alert the run fixed is reported recovered once the machine passes its checks again.
 */
export function heldByRun(watch: MachineWatch, runId: string): MachineWatch {
  return { ...watch, run: runId, failures: 0, successes: 0, failingSince: null };
}

/** What people see: the thresholds' status, unless a run has the machine or a silence covers it. */
export type WatchView = WatchStatus | 'in a run' | 'silenced' | 'not monitored';

export function watchView(
  watch: MachineWatch | null,
  context: { silenced: boolean; monitored: boolean },
): WatchView {
  if (!context.monitored) return 'not monitored';
  if (watch?.run) return 'in a run';
  if (context.silenced) return 'silenced';
  return watch?.status ?? 'unknown';
}
