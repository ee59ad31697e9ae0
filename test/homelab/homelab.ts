import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import {
  type Faults,
  type HomelabService,
  hostKeyPublic,
  newSystem,
  writeMachineFiles,
} from './machine-files.js';

export type { Faults, HomelabService };

/** Every homelab's default state directory starts with this; `scripts/homelab clean` removes them. */
export const STATE_PREFIX = 'lab-homelab-';
const supervisorScript = join(import.meta.dirname, 'supervisor.mjs');

export interface MachineSpec {
  readonly name: string;
  readonly services?: readonly HomelabService[];
  /** How long the machine stays down in a reboot (default 300 ms). */
  readonly bootTimeMs?: number;
  readonly faults?: Faults;
  /** `lab.machine` fields for the fixture flake; health checks and ssh are derived. */
  readonly lab?: {
    readonly role?: string;
    readonly groups?: readonly string[];
    readonly rebootOrder?: number;
    readonly dependencies?: readonly string[];
    readonly orchestration?: Record<string, unknown>;
  };
}

export interface HomelabOptions {
  readonly machines: readonly MachineSpec[];
  /** Default: a new directory `${tmpdir}/lab-homelab-XXXXXX`. */
  readonly stateDir?: string;
  /** First three octets of the machines' addresses (default: a random 127.0.X); machines get .2, .3, ... */
  readonly subnet?: string;
  /** Port of every machine's sshd, each on its own address (default 22). */
  readonly sshPort?: number;
  /** Keep running when this process exits (for `scripts/homelab up`). Default: stop with it. */
  readonly detached?: boolean;
}

export interface HomelabMachine {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly dir: string;
  /** `ssh-ed25519 AAAA...` as generated (a hostKeyChanged fault replaces it at the next boot). */
  readonly hostKeyPublic: string;
  readonly knownHostsLine: string;
}

export interface BootRecord {
  readonly bootId: string;
  /** When its sshd accepted connections (epoch ms). */
  readonly upAt: number;
  /** When it went down, if it did. */
  readonly downAt?: number;
}

export type MachineState = 'booting' | 'up' | 'down' | 'off';

export interface Homelab {
  readonly machines: readonly HomelabMachine[];
  readonly stateDir: string;
  /** Directory of the fixture flake (flake.nix + machines.json). */
  readonly flakePath: string;
  readonly knownHostsPath: string;
  readonly userKeyPath: string;
  /** LAB_SSH_KEY and LAB_KNOWN_HOSTS for lab. */
  readonly env: Readonly<Record<string, string>>;
  machine(name: string): HomelabMachine;
  /** Pulls the plug; resolves once the machine is down. Returns the boot id it had. */
  reboot(name: string): Promise<string | null>;
  /** Powers on a machine that stayed down (neverComesBack). */
  start(name: string): Promise<void>;
  /** Merges into the machine's faults; they apply from its next boot. */
  setFault(name: string, faults: Faults): Promise<void>;
  /** The machine's boots, oldest first. */
  bootLog(name: string): BootRecord[];
  /** Resolves with the first boot whose id differs from `after` (any boot if absent) once it is up. */
  waitForBoot(name: string, options?: { after?: string | null; timeoutMs?: number }): Promise<BootRecord>;
  state(name: string): Promise<MachineState>;
  /** A new system generation for the machine's profile, booted at its next boot. Returns its path. */
  newSystem(name: string, options?: { kernel?: string }): Promise<string>;
  /** Stops every machine and the supervisor and removes the state directory. */
  stop(options?: { keepState?: boolean }): Promise<void>;
}

/**
 * Starts a simulated homelab (needs root): a supervisor process that runs each machine in its own
 * mount, UTS and PID namespaces with its own sshd, boot id, /run, system profile and services.
 */
export async function startHomelab(options: HomelabOptions): Promise<Homelab> {
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), STATE_PREFIX)));
  await mkdir(stateDir, { recursive: true });
  if ((await readdir(stateDir)).length > 0)
    throw new Error(`homelab state directory ${stateDir} is not empty`);
  const subnet = options.subnet ?? (await freeSubnet());
  const sshPort = options.sshPort ?? 22;
  let supervisor: ChildProcess | undefined;
  try {
    const userKeyPath = join(stateDir, 'id_ed25519');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'lab-homelab-user', '-f', userKeyPath]);
    const userKey = await readFile(`${userKeyPath}.pub`, 'utf8');
    const specs = options.machines.map((spec, index) => ({
      ...spec,
      address: `${subnet}.${index + 2}`,
      sshPort,
      bootTimeMs: spec.bootTimeMs ?? 300,
      dir: join(stateDir, 'machines', spec.name),
    }));
    for (const spec of specs) {
      await writeMachineFiles({
        ...spec,
        services: spec.services ?? [],
        faults: spec.faults ?? {},
        userKey,
        kernels: join(stateDir, 'kernels'),
      });
    }
    await writeFile(
      join(stateDir, 'homelab.json'),
      JSON.stringify({
        machines: specs.map(({ name, address, sshPort, bootTimeMs }) => ({
          name,
          address,
          sshPort,
          bootTimeMs,
        })),
      }),
    );
    await writeFlake(join(stateDir, 'flake'), specs);

    const lab = await attachHomelab(stateDir);
    await writeFile(lab.knownHostsPath, lab.machines.map((m) => `${m.knownHostsLine}\n`).join(''));
    const log = openSync(join(stateDir, 'supervisor.log'), 'a');
    const args = [supervisorScript, stateDir, ...(options.detached ? [] : ['--exit-with-stdin'])];
    supervisor = spawn(process.execPath, args, {
      stdio: [options.detached ? 'ignore' : 'pipe', log, log],
      detached: options.detached,
    });
    closeSync(log);
    if (options.detached) supervisor.unref();
    const exited = new Promise<never>((_, reject) =>
      supervisor?.once('exit', (code) =>
        reject(new Error(`homelab supervisor exited (${code}): see ${join(stateDir, 'supervisor.log')}`)),
      ),
    );
    await Promise.race([
      exited,
      Promise.all(lab.machines.map((m) => lab.waitForBoot(m.name, { timeoutMs: 20_000 }))),
    ]);
    return lab;
  } catch (error) {
    supervisor?.kill('SIGKILL');
    await rm(stateDir, { recursive: true, force: true });
    throw error;
  }
}

/** The homelab whose supervisor runs on `stateDir` (for `scripts/homelab down`). */
export async function attachHomelab(stateDir: string): Promise<Homelab> {
  const config = JSON.parse(await readFile(join(stateDir, 'homelab.json'), 'utf8')) as {
    machines: { name: string; address: string; sshPort: number }[];
  };
  const machines: HomelabMachine[] = [];
  for (const { name, address, sshPort } of config.machines) {
    const dir = join(stateDir, 'machines', name);
    const key = await hostKeyPublic(dir);
    const host = sshPort === 22 ? address : `[${address}]:${sshPort}`;
    machines.push({
      name,
      address,
      port: sshPort,
      dir,
      hostKeyPublic: key,
      knownHostsLine: `${host} ${key}`,
    });
  }
  const machine = (name: string): HomelabMachine => {
    const found = machines.find((m) => m.name === name);
    if (!found) throw new Error(`no simulated machine ${name}`);
    return found;
  };
  const control = (method: string, path: string) => controlRequest(stateDir, method, path);
  const bootLog = (name: string): BootRecord[] =>
    readFileSync(join(machine(name).dir, 'boots.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as BootRecord);
  const state = async (name: string): Promise<MachineState> => {
    const status = (await control('GET', '/status')) as { machines: { name: string; state: MachineState }[] };
    return status.machines.find((m) => m.name === name)?.state ?? 'off';
  };

  return {
    machines,
    stateDir,
    flakePath: join(stateDir, 'flake'),
    knownHostsPath: join(stateDir, 'known_hosts'),
    userKeyPath: join(stateDir, 'id_ed25519'),
    env: { LAB_SSH_KEY: join(stateDir, 'id_ed25519'), LAB_KNOWN_HOSTS: join(stateDir, 'known_hosts') },
    machine,
    reboot: async (name) => {
      const bootId = bootLog(name).at(-1)?.bootId ?? null;
      await control('POST', `/reboot/${name}`);
      return bootId;
    },
    start: async (name) => {
      await control('POST', `/start/${name}`);
    },
    setFault: async (name, faults) => {
      const path = join(machine(name).dir, 'faults.json');
      const current = JSON.parse(await readFile(path, 'utf8')) as Faults;
      await writeFile(`${path}.new`, JSON.stringify({ ...current, ...faults }));
      await rename(`${path}.new`, path);
    },
    bootLog,
    waitForBoot: async (name, { after, timeoutMs = 15_000 } = {}) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const last = bootLog(name).at(-1);
        if (last && last.bootId !== after && last.downAt === undefined) return last;
        if (Date.now() > deadline) throw new Error(`${name} did not boot within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    state,
    newSystem: (name, { kernel = 'linux-1' } = {}) =>
      newSystem(machine(name).dir, join(stateDir, 'kernels'), kernel),
    stop: async ({ keepState = false } = {}) => {
      const pidFile = join(stateDir, 'supervisor.pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : undefined;
      if (pid !== undefined && supervisorAlive(pid)) {
        await control('POST', '/stop').catch(() => process.kill(pid, 'SIGTERM'));
        while (supervisorAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (!keepState) await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** A random 127.0.X (X in 20..249) with no listening TCP socket on any of its addresses. */
async function freeSubnet(): Promise<string> {
  const listening = (await readFile('/proc/net/tcp', 'utf8'))
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[3] === '0A')
    .map((fields) => fields[1]?.split(':')[0] ?? '');
  for (;;) {
    const x = 20 + Math.floor(Math.random() * 230);
    // /proc/net/tcp shows 127.0.X.N as little-endian hex: NN X 00 7F.
    const hex = `${x.toString(16).padStart(2, '0')}007F`.toUpperCase();
    if (!listening.some((address) => address.endsWith(hex))) return `127.0.${x}`;
  }
}

/** Whether `pid` is a live homelab supervisor (not gone, not a zombie nobody reaped, not reused). */
export function supervisorAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return (
      state !== 'Z' &&
      state !== 'X' &&
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('supervisor.mjs')
    );
  } catch {
    return false;
  }
}

function controlRequest(stateDir: string, method: string, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const request = http.request({ socketPath: join(stateDir, 'control.sock'), method, path }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        body += chunk;
      });
      response.on('end', () => {
        const parsed = JSON.parse(body);
        if ((response.statusCode ?? 500) >= 400)
          reject(new Error(`homelab control ${path}: ${parsed.error}`));
        else resolve(parsed);
      });
    });
    request.on('error', reject);
    request.end();
  });
}

/** A flake with no inputs whose nixosConfigurations are plain attribute sets, as lab reads them. */
async function writeFlake(
  dir: string,
  specs: readonly (MachineSpec & { address: string; sshPort: number })[],
): Promise<void> {
  const machines = Object.fromEntries(
    specs.map((spec, index) => [
      spec.name,
      {
        role: spec.lab?.role ?? 'server',
        groups: spec.lab?.groups ?? [],
        rebootOrder: spec.lab?.rebootOrder ?? index + 1,
        dependencies: spec.lab?.dependencies ?? [],
        healthChecks: (spec.services ?? []).map((service) =>
          service.type === 'http'
            ? {
                type: 'http',
                url: `http://localhost:${service.port}${service.path ?? '/health'}`,
                timeout: 2,
              }
            : { type: 'tcp', port: service.port, timeout: 2 },
        ),
        orchestration: { rebootDelay: 0, ...spec.lab?.orchestration },
        ssh: { host: spec.address, port: spec.sshPort, user: 'root' },
      },
    ]),
  );
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'machines.json'), `${JSON.stringify(machines, null, 2)}\n`);
  await writeFile(join(dir, 'flake.nix'), FLAKE);
}

const FLAKE = `# Generated by the simulated homelab (test/homelab): plain attribute sets shaped like
# evaluated NixOS configurations; lab applies the lab-machine module's defaults.
{
  outputs = { self }: {
    nixosConfigurations = builtins.mapAttrs
      (name: machine: { config = { networking.hostName = name; lab.machine = machine; }; })
      (builtins.fromJSON (builtins.readFile ./machines.json));
  };
}
`;
