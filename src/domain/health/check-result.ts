import type { HealthCheck } from '../inventory/schema.js';

export interface CheckResult {
  /** `http http://localhost/health`, `tcp 5432`, `command systemctl is-active nginx` */
  readonly name: string;
  readonly type: HealthCheck['type'];
  readonly ok: boolean;
  readonly latencyMs: number;
  /** Why it failed; null when it passed. */
  readonly error: string | null;
}

export interface MachineHealth {
  readonly machine: string;
  /** Whether lab could connect over SSH at all. */
  readonly reachable: boolean;
  /** The connection error when unreachable. */
  readonly error: string | null;
  readonly checks: readonly CheckResult[];
  /** Reachable and every check passed. */
  readonly ok: boolean;
}

export function checkName(check: HealthCheck): string {
  switch (check.type) {
    case 'http':
      return `http ${check.url}`;
    case 'tcp':
      return `tcp ${check.port}`;
    case 'command':
      return `command ${check.command}`;
  }
}

/** `health checks still failing after 300 s: tcp 5432 (connection refused)` */
export function describeUnhealthy(health: MachineHealth, timeoutSeconds?: number): string {
  const within = timeoutSeconds === undefined ? '' : ` after ${timeoutSeconds} s`;
  if (!health.reachable) return `unreachable${within}: ${health.error}`;
  const failing = health.checks.filter((check) => !check.ok).map((check) => `${check.name} (${check.error})`);
  return `health checks still failing${within}: ${failing.join(', ')}`;
}
