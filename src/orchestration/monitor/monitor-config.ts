import { z } from 'zod';
import type { MonitorDefaults } from '../../domain/monitor/monitor-settings.js';
import { ConfigurationError } from '../../errors.js';
import { envProblem } from '../../util/env-problem.js';

/** The monitor of `lab serve` and `lab worker`: its defaults and the flake it watches. */
export interface MonitorConfig extends MonitorDefaults {
  /** The flake whose machines are watched (LAB_FLAKE); null: no monitor (nothing to watch). */
  readonly flake: string | null;
}

const threshold = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a whole number of checks` })
    .int('must be a whole number of checks')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100');

const envSchema = z.object({
  LAB_MONITOR_INTERVAL: z.coerce
    .number()
    .int('must be whole seconds')
    .min(0, 'must be 0 (off) or at least 1 (seconds)')
    .max(86_400, 'must be at most 86400 (a day)')
    .default(60),
  LAB_MONITOR_FAILURES: threshold('LAB_MONITOR_FAILURES').default(3),
  LAB_MONITOR_SUCCESSES: threshold('LAB_MONITOR_SUCCESSES').default(2),
  LAB_MONITOR_FLAP_WINDOW: z.coerce.number().int('must be whole seconds').min(0).max(86_400).default(900),
  LAB_FLAKE: z.string().min(1).optional(),
});

/** Reads and validates the monitor's variables; a bad one is named with what is wrong. */
export function monitorConfig(env: NodeJS.ProcessEnv = process.env): MonitorConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success)
    throw new ConfigurationError(`invalid environment: ${parsed.error.issues.map(envProblem).join('; ')}`);
  const vars = parsed.data;
  return {
    interval: vars.LAB_MONITOR_INTERVAL,
    failureThreshold: vars.LAB_MONITOR_FAILURES,
    successThreshold: vars.LAB_MONITOR_SUCCESSES,
    flapWindow: vars.LAB_MONITOR_FLAP_WINDOW,
    flake: vars.LAB_FLAKE ?? null,
  };
}
