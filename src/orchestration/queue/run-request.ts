import { createHash } from 'node:crypto';
import { z } from 'zod';
import { deployStrategies } from '../../domain/inventory/schema.js';
import type { SkippedHost } from '../../domain/planner/plan.js';
import { type PowerAction, powerActions } from '../../domain/power/power-steps.js';
import { UsageError } from '../../errors.js';
import { planIdOf } from '../plan-id.js';
import type { RunState } from '../run-state.js';
import type { ApprovalPolicy } from './queue-config.js';

/** Who asked for something: a stable id (for self-approval and distinct approvers) and a name. */
export const actorSchema = z.strictObject({
  id: z.string().min(1).max(200),
  name: z.string().min(1).max(200),
});
export type Actor = z.infer<typeof actorSchema>;

const seconds = z
  .number()
  .int()
  .nonnegative()
  .max(7 * 24 * 3600);

/**
 * A request for a run, as it arrives from the CLI, Discord or the scheduler. Validated here, at
 * the edge of the queue; nothing in it ever reaches a shell.
 */
export const runRequestSchema = z
  .strictObject({
    kind: z.enum(['reboot', 'deploy', 'health', 'power']),
    flake: z.string().min(1).max(1000),
    /** Machine names and @groups; empty means every machine. */
    targets: z.array(z.string().min(1).max(100)).max(500).default([]),
    parallel: z.number().int().min(1).max(64).default(1),
    /**
     * Go on without the hosts that could not be read which a plan of all or of a group would
     * include (the run lists them as skipped); without it such a run is refused.
     */
    skipBroken: z.boolean().default(false),
    /** reboot: only machines whose booted kernel, initrd or modules differ from the current system. */
    onlyNeeded: z.boolean().default(false),
    /** deploy: one strategy for every machine instead of each machine's own. */
    strategy: z.enum(deployStrategies).optional(),
    /** deploy: then reboot, in a run of its own, the machines that need it. */
    rebootIfNeeded: z.boolean().default(false),
    buildOnTarget: z.boolean().default(false),
    substituteOnTarget: z.boolean().default(false),
    /**
     * reboot, deploy: each machine's reboot or activation starts only inside its maintenance window
     * (its own, else LAB_MAINTENANCE_WINDOW), when it can finish before the window closes; a machine
     * whose turn comes outside waits for the opening. Scheduled runs always do.
     */
    inWindow: z.boolean().default(false),
    /** reboot, deploy: start every machine at once, whatever its window (not with inWindow). */
    forceWindow: z.boolean().default(false),
    rebootTimeout: seconds.optional(),
    healthTimeout: seconds.optional(),
    stabilityWindow: seconds.optional(),
    rebootCommand: z.array(z.string().min(1).max(200)).min(1).max(20).optional(),
    /** power: the action on the one machine of `targets` (no @group: one machine, by name). */
    action: z.enum(['on', 'off', 'cycle', 'status'] as const satisfies readonly PowerAction[]).optional(),
    /**
     * power: asked from the alert of this run, halted on the machine (it did not come back): the
     * power run acts under that run's lock of the machine, as long as that run is halted there.
     */
    haltedRun: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .optional(),
    requestedBy: actorSchema,
    source: z.enum(['cli', 'discord', 'schedule']),
    /** The Discord channel that shows the run (where it was asked for), else the configured one. */
    discordChannel: z
      .string()
      .regex(/^\d{5,25}$/)
      .optional(),
  })
  .superRefine((request, ctx) => {
    if (request.kind !== 'power') {
      if (request.action !== undefined || request.haltedRun !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['action'],
          message: `a ${request.kind} run has no power action`,
        });
      return;
    }
    if (request.action === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['action'],
        message: `a power run needs one of ${powerActions.join(', ')}`,
      });
    if (request.targets.length !== 1 || request.targets[0]?.startsWith('@'))
      ctx.addIssue({
        code: 'custom',
        path: ['targets'],
        message: 'a power run is for exactly one machine, by name',
      });
  });
export type RunRequest = z.infer<typeof runRequestSchema>;
export type RunRequestInput = z.input<typeof runRequestSchema>;

export function parseRunRequest(input: unknown): RunRequest {
  const parsed = runRequestSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`invalid run request: ${issue?.path.join('.') || 'request'}: ${issue?.message}`);
  }
  if (parsed.data.inWindow && parsed.data.forceWindow)
    throw new UsageError(
      'invalid run request: inWindow and forceWindow: choose one (--in-window or --force-window)',
    );
  return parsed.data;
}

export type { RunState };

/** What a run's BullMQ job carries: the request, the plan's id and the checkpointed state. */
export interface RunJobData {
  readonly request: RunRequest;
  /** Identifies the plan that was shown; approvals name it, so they apply to nothing else. */
  readonly planId: string;
  readonly fingerprint: string;
  readonly policy: ApprovalPolicy;
  readonly requestedAt: number;
  /** Hosts that could not be read and that the run goes on without (skipBroken); absent in older runs. */
  readonly skipped?: readonly SkippedHost[];
  state: RunState;
}

/**
 * The same request twice is the same run: kind, flake, targets and options, not who asked or
 * when (two people asking for one reboot get one reboot).
 */
export function requestFingerprint(request: RunRequest): string {
  const {
    requestedBy: _who,
    source: _from,
    discordChannel: _where,
    skipBroken,
    inWindow,
    forceWindow,
    ...what
  } = request;
  // These count only when set, so that requests without them keep the fingerprint they had.
  const normal = {
    ...what,
    targets: [...what.targets].sort(),
    ...(skipBroken ? { skipBroken } : {}),
    ...(inWindow ? { inWindow } : {}),
    ...(forceWindow ? { forceWindow } : {}),
  };
  return createHash('sha256').update(JSON.stringify(normal)).digest('hex').slice(0, 24);
}

/** A short id of the plan a run state holds (see planIdOf; approvals are bound to it). */
export function planId(state: RunState): string {
  return planIdOf({ kind: state.kind, steps: state.steps, machines: state.machines });
}
