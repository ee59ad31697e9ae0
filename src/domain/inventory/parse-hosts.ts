import { z } from 'zod';
import { hasPowerControl } from './power-schema.js';
import {
  type BrokenHost,
  isValidMachineName,
  type Machine,
  type MachineMetadata,
  machineMetadataSchema,
  type UnmanagedHost,
} from './schema.js';

/** What the evaluation expressions return for one host (see eval-expression.ts). */
export const rawHostSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('managed'), machine: z.unknown(), hostName: z.unknown().optional() }),
  z.object({ status: z.literal('unmanaged') }),
  z.object({ status: z.literal('broken'), error: z.string().optional() }),
]);
export type RawHost = z.infer<typeof rawHostSchema>;

export const rawHostsSchema = z.record(z.string(), rawHostSchema);
export type RawHosts = z.infer<typeof rawHostsSchema>;

export interface ParsedHosts {
  readonly machines: Machine[];
  readonly unmanaged: UnmanagedHost[];
  readonly broken: BrokenHost[];
}

/** Turns the evaluation's raw result into validated machines; problems stay per host. */
export function parseHosts(raw: RawHosts): ParsedHosts {
  const machines: Machine[] = [];
  const unmanaged: UnmanagedHost[] = [];
  const broken: BrokenHost[] = [];
  for (const name of Object.keys(raw).sort()) {
    const host = raw[name] as RawHost;
    if (!isValidMachineName(name)) {
      broken.push({
        name,
        error: `'${name}' is not a valid host name (letters, digits and inner dashes, at most 63): rename the nixosConfigurations entry`,
      });
      continue;
    }
    if (host.status === 'unmanaged') unmanaged.push({ name });
    else if (host.status === 'broken') broken.push({ name, error: host.error ?? 'evaluation failed' });
    else {
      const parsed = parseMachine(name, host.machine, host.hostName);
      if ('error' in parsed) broken.push(parsed);
      else machines.push(parsed);
    }
  }
  return { machines, unmanaged, broken };
}

function parseMachine(name: string, rawMachine: unknown, rawHostName: unknown): Machine | BrokenHost {
  const result = machineMetadataSchema.safeParse(rawMachine);
  if (!result.success) {
    return {
      name,
      error: result.error.issues.map((issue) => describeIssue(issue, rawMachine)).join('; '),
      ...readableGroups(rawMachine),
    };
  }
  const hostName = typeof rawHostName === 'string' && rawHostName !== '' ? rawHostName : null;
  return toMachine(name, hostName, result.data);
}

function toMachine(name: string, hostName: string | null, metadata: MachineMetadata): Machine {
  return {
    name,
    hostName,
    role: metadata.role,
    groups: metadata.groups,
    rebootOrder: metadata.rebootOrder,
    dependencies: metadata.dependencies,
    healthChecks: metadata.healthChecks,
    deployStrategy: metadata.orchestration.deployStrategy,
    rebootDelay: metadata.orchestration.rebootDelay,
    criticalityLevel: metadata.orchestration.criticalityLevel,
    ...(metadata.orchestration.maintenanceWindow
      ? { maintenanceWindow: metadata.orchestration.maintenanceWindow }
      : {}),
    ssh: { host: metadata.ssh.host ?? hostName ?? name, port: metadata.ssh.port, user: metadata.ssh.user },
    ...(hasPowerControl(metadata.power) ? { power: metadata.power } : {}),
    monitor: metadata.monitor,
  };
}

/**
 * The groups of a `lab.machine` that is wrong elsewhere, when they are valid on their own (no
 * `groups` means none, as the module's default): a plan of a group can then tell whether the
 * broken host belongs to it. Nothing when they cannot be read.
 */
function readableGroups(rawMachine: unknown): { groups?: string[] } {
  if (rawMachine === null || typeof rawMachine !== 'object' || Array.isArray(rawMachine)) return {};
  const groups = machineMetadataSchema.shape.groups.safeParse((rawMachine as { groups?: unknown }).groups);
  return groups.success ? { groups: groups.data } : {};
}

/** `lab.machine.healthChecks.0.url: a http check needs url` */
function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const path = ['lab.machine', ...issue.path.map(String)].join('.');
  const value = valueAt(raw, issue.path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => `${path}.${key}: unknown field`).join('; ');
    case 'invalid_type':
      return value === undefined
        ? `${path}: is required but not set`
        : `${path}: must be ${article(issue.expected)}, got ${show(value)}`;
    case 'invalid_value':
      return `${path}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${show(value)}`;
    default:
      return `${path}: ${issue.message}${value === undefined || typeof value === 'object' ? '' : ` (got ${show(value)})`}`;
  }
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

const article = (type: string): string => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

function show(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an attribute set';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
