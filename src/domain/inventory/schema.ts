import { z } from 'zod';
import {
  type MaintenanceWindow,
  TIME_PATTERN,
  weekdays,
  windowProblems,
} from '../schedule/maintenance-window.js';
import { type PowerConfig, powerSchema } from './power-schema.js';

/**
 * The shape of `config.lab.machine` as nix/modules/lab-machine.nix defines it. Defaults here
 * mirror the module's, so a flake that builds its configurations without the module system
 * (plain attribute sets, as in test fixtures) is read the same way. Objects are strict: the
 * module makes unknown fields impossible in a real NixOS configuration, so in a hand-written
 * attribute set an unknown field is a typo and is reported rather than silently ignored.
 */

/** RFC 1123 host name label(s): what NixOS accepts for `networking.hostName`, plus dots for FQDNs. */
export const HOSTNAME_PATTERN =
  /^(?=.{1,253}$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export const MACHINE_NAME_PATTERN = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

export const isValidMachineName = (name: string): boolean => MACHINE_NAME_PATTERN.test(name);

const machineName = z
  .string()
  .regex(MACHINE_NAME_PATTERN, 'must be a host name (letters, digits and inner dashes, at most 63)');

export const deployStrategies = ['rolling', 'blue-green', 'recreate'] as const;
export const criticalityLevels = ['low', 'medium', 'high', 'critical'] as const;
export const healthCheckTypes = ['http', 'tcp', 'command'] as const;

const seconds = z.number().int().nonnegative();
const port = z.number().int().min(1).max(65535);

export const healthCheckSchema = z
  .strictObject({
    type: z.enum(healthCheckTypes),
    url: z.string().min(1).nullable().default(null),
    port: port.nullable().default(null),
    command: z.string().min(1).nullable().default(null),
    timeout: z.number().int().positive().default(5),
    expectStatus: z.number().int().min(100).max(599).nullable().default(null),
  })
  .superRefine((check, ctx) => {
    const required = { http: 'url', tcp: 'port', command: 'command' } as const;
    const field = required[check.type];
    if (check[field] === null) {
      ctx.addIssue({
        code: 'custom',
        path: [field],
        message: `a ${check.type} check needs ${field}`,
      });
    }
    if (check.type === 'http' && check.url !== null && !/^https?:\/\//.test(check.url)) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'must start with http:// or https://' });
    }
  });

/** `orchestration.maintenanceWindow`: when reboots and activations may start (null: any time). */
export const maintenanceWindowSchema = z
  .strictObject({
    days: z
      .array(z.enum(weekdays))
      .min(1, 'names no day')
      .default([...weekdays]),
    start: z.string().regex(TIME_PATTERN, 'must be a time HH:MM (00:00 to 23:59)'),
    end: z.string().regex(TIME_PATTERN, 'must be a time HH:MM (00:00 to 23:59)'),
    timeZone: z.string().min(1).default('UTC'),
  })
  .superRefine((window, ctx) => {
    // The fields' own shapes are checked above; what is left: the zone, and end equal to start.
    for (const problem of windowProblems(window))
      if (problem.field === 'timeZone' || (problem.field === 'end' && TIME_PATTERN.test(window.end)))
        ctx.addIssue({ code: 'custom', path: [problem.field], message: problem.message });
  });

export const machineMetadataSchema = z.strictObject({
  role: z.string().min(1),
  groups: z.array(z.string().min(1)).default([]),
  rebootOrder: z.number().int(),
  dependencies: z.array(machineName).default([]),
  healthChecks: z.array(healthCheckSchema).default([]),
  orchestration: z
    .strictObject({
      deployStrategy: z.enum(deployStrategies).default('rolling'),
      rebootDelay: seconds.default(600),
      criticalityLevel: z.enum(criticalityLevels).default('medium'),
      maintenanceWindow: maintenanceWindowSchema.nullable().default(null),
    })
    .prefault({}),
  monitor: z
    .strictObject({
      enable: z.boolean().default(true),
      interval: z.number().int().min(1, 'must be at least 1 (seconds)').nullable().default(null),
      failureThreshold: z.number().int().min(1).max(100).nullable().default(null),
      successThreshold: z.number().int().min(1).max(100).nullable().default(null),
    })
    .prefault({}),
  ssh: z
    .strictObject({
      host: z.string().regex(HOSTNAME_PATTERN, 'must be a host name or IP address').nullable().default(null),
      port: port.default(22),
      user: z
        .string()
        .regex(/^[a-z_][a-z0-9_-]*\$?$/i, 'must be a user name')
        .default('root'),
    })
    .prefault({}),
  power: powerSchema,
});

export type HealthCheck = z.infer<typeof healthCheckSchema>;
export type MachineMetadata = z.infer<typeof machineMetadataSchema>;
export type DeployStrategy = (typeof deployStrategies)[number];
export type CriticalityLevel = (typeof criticalityLevels)[number];

/** A managed machine: its name in `nixosConfigurations` plus its validated metadata. */
export interface Machine {
  readonly name: string;
  /** `config.networking.hostName` when the configuration sets one. */
  readonly hostName: string | null;
  readonly role: string;
  readonly groups: readonly string[];
  readonly rebootOrder: number;
  readonly dependencies: readonly string[];
  readonly healthChecks: readonly HealthCheck[];
  readonly deployStrategy: DeployStrategy;
  readonly rebootDelay: number;
  readonly criticalityLevel: CriticalityLevel;
  /**
   * When its reboots and activations may start (`orchestration.maintenanceWindow`); absent when the
   * machine has none of its own (then LAB_MAINTENANCE_WINDOW, if set, applies).
   */
  readonly maintenanceWindow?: MaintenanceWindow;
  /** Where the orchestrator reaches the machine. */
  readonly ssh: { readonly host: string; readonly port: number; readonly user: string };
  /** How lab powers it on, off or through a cycle (`lab.machine.power`); absent when not configured. */
  readonly power?: PowerConfig;
  /**
   * How the monitor watches it between runs (`lab.machine.monitor`); null fields take the
   * monitor's defaults (LAB_MONITOR_*). Absent means all defaults.
   */
  readonly monitor?: MachineMonitor;
}

/** `lab.machine.monitor`: null means the monitor's default. */
export interface MachineMonitor {
  readonly enable: boolean;
  /** Seconds between checks. */
  readonly interval: number | null;
  /** Consecutive failing checks before it is reported unhealthy. */
  readonly failureThreshold: number | null;
  /** Consecutive passing checks before it is reported recovered. */
  readonly successThreshold: number | null;
}

/** A host in `nixosConfigurations` that does not use the lab module. */
export interface UnmanagedHost {
  readonly name: string;
}

/** A host whose configuration could not be read; the others still load. */
export interface BrokenHost {
  readonly name: string;
  /** What is wrong, naming the field where one is known, or nix's own message. */
  readonly error: string;
  /**
   * The groups its `lab.machine` names, when they could be read although the rest is wrong;
   * absent when they could not (the host may be in any group).
   */
  readonly groups?: readonly string[];
}

export interface Inventory {
  /** The flake reference the inventory was read from. */
  readonly flake: string;
  /** The locked revision or narHash the inventory belongs to, when nix reports one. */
  readonly revision: string | null;
  readonly machines: readonly Machine[];
  readonly unmanaged: readonly UnmanagedHost[];
  readonly broken: readonly BrokenHost[];
  /**
   * What a listing of the flake should point out (each host that could not be read). Plans say
   * themselves what they do with broken hosts (Plan.skipped, Plan.warnings).
   */
  readonly warnings: readonly string[];
}
