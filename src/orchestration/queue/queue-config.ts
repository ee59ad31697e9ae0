import { z } from 'zod';
import type { Machine } from '../../domain/inventory/schema.js';
import type { MaintenanceWindow } from '../../domain/schedule/maintenance-window.js';
import { ConfigurationError } from '../../errors.js';
import { envProblem } from '../../util/env-problem.js';
import { copyConcurrencySchema } from '../copy-ahead.js';
import { globalMaintenanceWindow } from '../maintenance-window-setting.js';

/** How many distinct approvers each criticality level needs, and the rules around them. */
export interface ApprovalPolicy {
  readonly required: Readonly<Record<Machine['criticalityLevel'], number>>;
  /** Whether whoever started a run may approve its steps. */
  readonly selfApproval: boolean;
  /** Seconds an approval request stays open; expiry cancels the run. */
  readonly timeout: number;
}

export interface ScheduleConfig {
  /** Cron expression (5 or 6 fields). */
  readonly cron: string;
  readonly tz: string | undefined;
  readonly flake: string;
  /** Run `nix flake update` in the flake's directory first (a local flake only). */
  readonly flakeUpdate: boolean;
  /**
   * Deploy the others when hosts could not be read (LAB_SCHEDULE_SKIP_BROKEN); by default the
   * pipeline refuses, naming them, and deploys nothing.
   */
  readonly skipBroken: boolean;
}

/** Everything the queue, its workers and its clients read from the environment. */
export interface QueueConfig {
  readonly redisUrl: string;
  /** Queue name; every Redis key of lab's lives under it, so several labs can share a Redis. */
  readonly queue: string;
  readonly concurrency: number;
  /** Closures a deploy copies at once ahead of their machines' turn (LAB_COPY_CONCURRENCY; 0: none ahead). */
  readonly copyConcurrency: number;
  /** BullMQ's job lock: a crashed worker's run is picked up by another after about this long. */
  readonly lockDurationMs: number;
  /** Seconds a worker polls for a rebooting machine before parking the run and polling less often. */
  readonly activeWait: number;
  /** Seconds between polls of a parked run that waits for a machine. */
  readonly parkPoll: number;
  /** Seconds a halted run waits for retry, skip or abort before it is aborted. */
  readonly haltTimeout: number;
  /** Deadlines of queued runs whose request names none (e.g. from Discord), in seconds. */
  readonly rebootTimeout: number;
  readonly healthTimeout: number;
  readonly approvals: ApprovalPolicy;
  readonly schedule: ScheduleConfig | null;
  /** LAB_MAINTENANCE_WINDOW: the window of machines without their own; null: none. */
  readonly maintenanceWindow: MaintenanceWindow | null;
}

const seconds = z.coerce.number().int().nonnegative();
const count = z.coerce.number().int().min(0).max(10);
const flag = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', ''])
  .transform((value) => value === '1' || value === 'true' || value === 'yes');

const envSchema = z.object({
  REDIS_URL: z
    .string()
    .regex(
      /^(rediss?:\/\/|unix:\/\/\/[^?]+(\?db=\d{1,2})?$)/,
      'must start with redis:// or rediss://, or be unix:///path/to/redis.sock',
    )
    .default('redis://127.0.0.1:6379'),
  LAB_QUEUE: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only')
    .default('lab'),
  LAB_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  LAB_COPY_CONCURRENCY: copyConcurrencySchema,
  LAB_LOCK_DURATION_MS: z.coerce.number().int().min(500).default(30_000),
  LAB_ACTIVE_WAIT: seconds.default(120),
  LAB_PARK_POLL: z.coerce.number().int().min(1).default(5),
  LAB_HALT_TIMEOUT: z.coerce.number().int().min(1).default(3600),
  LAB_REBOOT_TIMEOUT: z.coerce.number().int().min(1).default(600),
  LAB_HEALTH_TIMEOUT: z.coerce.number().int().min(1).default(300),
  LAB_APPROVALS_LOW: count.default(0),
  LAB_APPROVALS_MEDIUM: count.default(0),
  LAB_APPROVALS_HIGH: count.default(1),
  LAB_APPROVALS_CRITICAL: count.default(2),
  LAB_SELF_APPROVAL: flag.default(false),
  LAB_APPROVAL_TIMEOUT: z.coerce.number().int().min(1).default(1800),
  LAB_SCHEDULE: z
    .string()
    .regex(/^\S+(\s+\S+){4,5}$/, 'a cron expression of 5 or 6 fields, e.g. "0 3 * * *"')
    .optional(),
  LAB_SCHEDULE_TZ: z.string().min(1).optional(),
  LAB_SCHEDULE_FLAKE_UPDATE: flag.default(false),
  LAB_SCHEDULE_SKIP_BROKEN: flag.default(false),
  LAB_FLAKE: z.string().min(1).optional(),
});

/** Reads and validates the queue configuration; an invalid variable is named with what is wrong. */
export function queueConfig(env: NodeJS.ProcessEnv = process.env): QueueConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(envProblem);
    throw new ConfigurationError(`invalid environment: ${problems.join('; ')}`);
  }
  const vars = parsed.data;
  if (vars.LAB_SCHEDULE && !vars.LAB_FLAKE)
    throw new ConfigurationError('LAB_SCHEDULE needs LAB_FLAKE: the flake the scheduled runs deploy');
  const maintenanceWindow = globalMaintenanceWindow(env);
  return {
    maintenanceWindow,
    redisUrl: vars.REDIS_URL,
    queue: vars.LAB_QUEUE,
    concurrency: vars.LAB_WORKER_CONCURRENCY,
    copyConcurrency: vars.LAB_COPY_CONCURRENCY,
    lockDurationMs: vars.LAB_LOCK_DURATION_MS,
    activeWait: vars.LAB_ACTIVE_WAIT,
    parkPoll: vars.LAB_PARK_POLL,
    haltTimeout: vars.LAB_HALT_TIMEOUT,
    rebootTimeout: vars.LAB_REBOOT_TIMEOUT,
    healthTimeout: vars.LAB_HEALTH_TIMEOUT,
    approvals: {
      required: {
        low: vars.LAB_APPROVALS_LOW,
        medium: vars.LAB_APPROVALS_MEDIUM,
        high: vars.LAB_APPROVALS_HIGH,
        critical: vars.LAB_APPROVALS_CRITICAL,
      },
      selfApproval: vars.LAB_SELF_APPROVAL,
      timeout: vars.LAB_APPROVAL_TIMEOUT,
    },
    schedule: vars.LAB_SCHEDULE
      ? {
          cron: vars.LAB_SCHEDULE,
          tz: vars.LAB_SCHEDULE_TZ,
          flake: vars.LAB_FLAKE as string,
          flakeUpdate: vars.LAB_SCHEDULE_FLAKE_UPDATE,
          skipBroken: vars.LAB_SCHEDULE_SKIP_BROKEN,
        }
      : null,
  };
}

/** The criticality levels that need at least one approval under the policy. */
export function levelsNeedingApproval(policy: ApprovalPolicy): Machine['criticalityLevel'][] {
  return (Object.keys(policy.required) as Machine['criticalityLevel'][]).filter(
    (level) => policy.required[level] > 0,
  );
}
