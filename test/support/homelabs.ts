/**
 * Shared homelabs for tests, as colmena's TempHive: a homelab is described as a few machines (their
 * `lab.machine` metadata and what runs on them), and one builder turns the description into a
 * simulated homelab (test/sim/homelab.ts) whose flake carries each machine's `lab.machine`.
 * Standard machines and homelabs below are what most tests use; a test whose homelab is special
 * writes its own machines, or changes a standard one with a spread: `{ ...standardMachines.web, rebootOrder: 2 }`.
 *
 * No vitest here: the benchmarks and `npm run lab:up` may use it too.
 */
import {
  type Fault,
  type Homelab,
  type SimMachineSpec,
  type SimService,
  startHomelab,
} from '../sim/homelab.js';

/** A `lab.machine.healthChecks` entry, as a flake writes it. */
export type HealthCheckSpec = Record<string, unknown>;

/** A service that runs on a machine and the health check lab runs against it. */
export interface Served {
  readonly service: SimService;
  readonly check: HealthCheckSpec;
}

/** A TCP service on the port, checked with a `tcp` health check (with the check's extra fields). */
export function tcp(port: number, check: { timeout?: number } = {}): Served {
  return { service: { type: 'tcp', port }, check: { type: 'tcp', port, ...check } };
}

/**
 * An HTTP service on the port answering `/health` (with `status`, that status), checked with an
 * `http` health check of `http://localhost:<port>/health` (expecting that status; with `timeout`,
 * that timeout).
 */
export function http(port: number, options: { status?: number; timeout?: number } = {}): Served {
  const { status, timeout } = options;
  const check = { type: 'http', url: `http://localhost:${port}/health` };
  const timed = timeout === undefined ? {} : { timeout };
  return status === undefined
    ? { service: { type: 'http', port }, check: { ...check, ...timed } }
    : { service: { type: 'http', port, status }, check: { ...check, expectStatus: status, ...timed } };
}

/** One machine of a test homelab. */
export interface TestMachine {
  readonly role: string;
  readonly rebootOrder: number;
  readonly groups?: readonly string[];
  readonly dependencies?: readonly string[];
  /** Services it runs that lab checks: each adds the service and, in this order, its health check. */
  readonly serves?: readonly Served[];
  /** Health checks after those of `serves` (command checks, checks of services that do not run). */
  readonly checks?: readonly HealthCheckSpec[];
  /** Services it runs that no health check looks at. */
  readonly services?: readonly SimService[];
  /**
   * `lab.machine.orchestration`. Its `rebootDelay` is 0 unless given: a test machine reboots at
   * once (the module's default is ten minutes).
   */
  readonly orchestration?: Readonly<Record<string, unknown>>;
  readonly faults?: readonly Fault[];
  /** Whether systemd is PID 1 on it (default true); see SimMachineSpec. */
  readonly systemd?: boolean;
  /** Its `lab.machine.power` through its simulated power switch; see SimMachineSpec. */
  readonly power?: SimMachineSpec['power'];
  /** `lab.machine.monitor` (e.g. `{ interval: 1 }`, `{ enable: false }`). */
  readonly monitor?: Readonly<Record<string, unknown>>;
}

/** A test homelab: its machines by name (in this order). */
export type HomelabDescription = Readonly<Record<string, TestMachine>>;

/** The simulated machine of a description: its `lab.machine` (without ssh), services and faults. */
export function simMachine(name: string, machine: TestMachine): SimMachineSpec {
  const served = machine.serves ?? [];
  const healthChecks = [...served.map((s) => s.check), ...(machine.checks ?? [])];
  const services = [...served.map((s) => s.service), ...(machine.services ?? [])];
  return {
    name,
    lab: {
      role: machine.role,
      rebootOrder: machine.rebootOrder,
      ...(machine.groups ? { groups: [...machine.groups] } : {}),
      ...(machine.dependencies ? { dependencies: [...machine.dependencies] } : {}),
      ...(healthChecks.length > 0 ? { healthChecks } : {}),
      orchestration: { rebootDelay: 0, ...machine.orchestration },
      ...(machine.monitor ? { monitor: { ...machine.monitor } } : {}),
    },
    ...(services.length > 0 ? { services } : {}),
    ...(machine.faults ? { faults: [...machine.faults] } : {}),
    ...(machine.systemd === undefined ? {} : { systemd: machine.systemd }),
    ...(machine.power ? { power: machine.power } : {}),
  };
}

/**
 * Starts the simulated homelab of a description (each machine boots in its own namespaces, see
 * startHomelab); a machine is down `bootTimeMs` (default 200 ms) during a reboot. Stop it with
 * `lab.stop()` after the file's tests.
 */
export function startTestHomelab(
  description: HomelabDescription,
  options: { bootTimeMs?: number } = {},
): Promise<Homelab> {
  return startHomelab({
    bootTimeMs: options.bootTimeMs ?? 200,
    machines: Object.entries(description).map(([name, machine]) => simMachine(name, machine)),
  });
}

/** The standard machines: storage, a database on it, a web server on the database. */
export const standardMachines = {
  nas: { role: 'nas', rebootOrder: 1, serves: [tcp(2049)] },
  db: { role: 'db', rebootOrder: 2, dependencies: ['nas'], serves: [tcp(5432)] },
  web: { role: 'web', rebootOrder: 3, dependencies: ['db'], serves: [http(80)] },
} as const satisfies HomelabDescription;

/**
 * Machines the monitor watches every second, each check timing out after 2 s: a database and a
 * web server on port 8080.
 */
export const monitoredMachines = {
  db: { role: 'postgres', rebootOrder: 1, serves: [tcp(5432, { timeout: 2 })], monitor: { interval: 1 } },
  web: { role: 'web', rebootOrder: 2, serves: [http(8080, { timeout: 2 })], monitor: { interval: 1 } },
} as const satisfies HomelabDescription;

/** The standard homelabs. */
export const homelabs = {
  /** nas, then db on it, then web on db: three stages, each machine checked on its service. */
  threeTier: standardMachines,
  /** nas, then web on it: two stages. */
  nasAndWeb: {
    nas: standardMachines.nas,
    web: { ...standardMachines.web, rebootOrder: 2, dependencies: ['nas'] },
  },
} as const satisfies Record<string, HomelabDescription>;
