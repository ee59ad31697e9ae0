import type { Machine } from '../inventory/schema.js';
import type { Thresholds } from './machine-watch.js';

/** The monitor's defaults (LAB_MONITOR_*), which each machine's `lab.machine.monitor` may override. */
export interface MonitorDefaults {
  /** Seconds between checks; 0: the monitor is off. */
  readonly interval: number;
  readonly failureThreshold: number;
  readonly successThreshold: number;
  /** Seconds after a recovery during which a new failure reopens the incident instead of paging. */
  readonly flapWindow: number;
}

/** How one machine is watched: null when it is not (monitor off, or `monitor.enable = false`). */
export interface MachineMonitorSettings {
  readonly intervalMs: number;
  readonly thresholds: Thresholds;
}

export function monitorSettingsOf(
  machine: Machine,
  defaults: MonitorDefaults,
): MachineMonitorSettings | null {
  const own = machine.monitor;
  if (defaults.interval === 0 || own?.enable === false) return null;
  return {
    intervalMs: (own?.interval ?? defaults.interval) * 1000,
    thresholds: {
      failures: own?.failureThreshold ?? defaults.failureThreshold,
      successes: own?.successThreshold ?? defaults.successThreshold,
      flapWindowMs: defaults.flapWindow * 1000,
    },
  };
}

/**
 * The longest a check of the machine may take: its slowest check's timeout (a command check has
 * 3 s more on the wire, see runCheck) plus the SSH connect timeout. A check never hangs the monitor.
 */
export function checkDeadlineMs(machine: Machine, connectMs: number): number {
  const slowest = Math.max(
    0,
    ...machine.healthChecks.map((check) => check.timeout * 1000 + (check.type === 'command' ? 3000 : 0)),
  );
  return connectMs + slowest + 1000;
}
