import type { SshPool } from '../../transport/ssh/ssh-pool.js';
import { pause } from '../../util/pause.js';
import { sshTarget } from '../hosts/ssh-target.js';
import type { Machine } from '../inventory/schema.js';
import type { MachineHealth } from './check-result.js';
import { runCheck } from './run-check.js';

/** Connects (or reuses the connection) and runs all the machine's checks at once. */
export async function checkMachine(pool: SshPool, machine: Machine): Promise<MachineHealth> {
  let connection: Awaited<ReturnType<SshPool['connection']>>;
  try {
    connection = await pool.connection(sshTarget(machine));
  } catch (error) {
    return {
      machine: machine.name,
      reachable: false,
      error: (error as Error).message,
      checks: [],
      ok: false,
    };
  }
  const checks = await Promise.all(machine.healthChecks.map((check) => runCheck(connection, check)));
  return {
    machine: machine.name,
    reachable: true,
    error: null,
    checks,
    ok: checks.every((check) => check.ok),
  };
}

export interface WaitHealthyOptions {
  /** Give up at this time (ms since epoch, as Date.now()). */
  readonly deadline: number;
  /** Pause between attempts (default 500 ms), shortened to meet the deadline. */
  readonly intervalMs?: number;
  readonly signal?: AbortSignal;
  /** Called with every attempt's result. */
  readonly onAttempt?: (health: MachineHealth, attempt: number) => void;
  /** Called with the first result and each one whose passing checks differ from the one before. */
  readonly onChange?: (health: MachineHealth, attempt: number) => void;
}

/**
 * Re-checks the machine until every check is green or the deadline passes, for use after a
 * reboot or a deploy. Resolves with the last result either way; callers decide on `ok`.
 */
export async function waitUntilHealthy(
  check: () => Promise<MachineHealth>,
  options: WaitHealthyOptions,
): Promise<MachineHealth> {
  const interval = options.intervalMs ?? 500;
  let previous: string | undefined;
  for (let attempt = 1; ; attempt++) {
    const health = await check();
    options.onAttempt?.(health, attempt);
    const summary = JSON.stringify([health.reachable, health.checks.map((result) => result.ok)]);
    if (summary !== previous) options.onChange?.(health, attempt);
    previous = summary;
    const left = options.deadline - Date.now();
    if (health.ok || left <= 0 || options.signal?.aborted) return health;
    await pause(Math.min(interval, left), options.signal);
  }
}
