import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import {
  appendFileSync,
  closeSync,
  existsSync,
  type FSWatcher,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  renameSync,
  rmSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { magicPacketTarget } from '../../src/domain/power/magic-packet.js';

/**
 * - never-comes-back: once down (a reboot, a crash) it does not boot again on its own, as a
 *   machine hung in its firmware or boot; its power switch (on, cycle) boots it;
 * - dead: not even its power switch brings it back;
 * - health-fails, slow-boot (10 × the boot time), host-key-changed (a new host key at next boot).
 */
export type Fault = 'never-comes-back' | 'dead' | 'health-fails' | 'slow-boot' | 'host-key-changed';

/** What the machine's power switch did: a command through power.sock, or a datagram on its Wake-on-LAN port. */
export interface PowerRecord {
  readonly event: 'on' | 'off' | 'cycle' | 'status' | 'wol';
  /** For 'wol': the MAC of a well-formed magic packet, or 'malformed'. */
  readonly detail: string;
  /** Whether it switched the machine (a boot, or a power off). */
  readonly switched: boolean;
  readonly at: number;
}

/**
 * A service of a simulated machine, and the systemd unit its system has for it
 * (`etc/systemd/system/<unit>`, default `lab-sim-<type>-<port>.service`). As in NixOS,
 * `reloadIfChanged` makes a change reload it and `stopIfChanged: false` restart it instead of
 * stopping and starting it (X-ReloadIfChanged, X-StopIfChanged in the unit).
 */
export type SimService = (
  | { type: 'http'; port: number; path?: string; status?: number }
  | { type: 'tcp'; port: number }
) & { unit?: string; reloadIfChanged?: boolean; stopIfChanged?: boolean };

/** The unit name of a simulated service. */
export const unitName = (service: SimService): string =>
  service.unit ?? `lab-sim-${service.type}-${service.port}.service`;

/** The unit file a simulated system has for a service: what it runs and how a change is applied. */
export function unitFile(service: SimService): string {
  const path = service.type === 'http' ? ` ${service.path ?? '/health'} ${service.status ?? 200}` : '';
  return [
    '[Unit]',
    `Description=simulated ${service.type} service on port ${service.port}`,
    '[Service]',
    `ExecStart=lab-sim-service ${service.type} ${service.port}${path}`,
    ...(service.reloadIfChanged ? ['X-ReloadIfChanged=true'] : []),
    ...(service.stopIfChanged === false ? ['X-StopIfChanged=false'] : []),
    '',
  ].join('\n');
}

/** A system's unit files by name. */
export const unitFiles = (services: readonly SimService[]): Record<string, string> =>
  Object.fromEntries(services.map((service) => [unitName(service), unitFile(service)]));

export interface BootRecord {
  readonly bootId: string;
  /** When sshd accepted connections (epoch ms). */
  readonly upAt: number;
  /** When the machine went down, if it did. */
  readonly downAt: number | null;
}

/** One run of switch-to-configuration: recorded when it starts and when it gets to the end. */
export interface ActivationRecord {
  readonly event: 'start' | 'done';
  readonly action: string;
  readonly system: string;
  readonly at: number;
}

/** A transient unit systemd-run started on the machine: when it started, and how it ended. */
export interface UnitRecord {
  readonly event: 'start' | 'exit';
  readonly unit: string;
  /** Its exit status, for 'exit'. */
  readonly status: number | null;
  readonly at: number;
}

/** The machine's boot menu, as its boot loader (systemd-boot layout) has it. */
export interface BootMenu {
  /** The generation loader.conf boots by default, null if none. */
  readonly defaultGeneration: number | null;
  /** The system the default entry boots (its init= without /init), null if none. */
  readonly defaultSystem: string | null;
  /** generation → the system its entry boots, in ascending order. */
  readonly entries: ReadonlyMap<number, string>;
}

/** The machine's system profile: its current generation and each generation's system. */
export interface SystemProfile {
  readonly current: number | null;
  readonly generations: ReadonlyMap<number, string>;
}

/** A reboot command the machine received, and the boot it was received in. */
export interface RebootRequest {
  readonly command: string;
  readonly bootId: string;
  readonly at: number;
}

/**
 * How slow a machine is, so that a test can act in the middle of something. All in ms; 0 (or
 * unset) is the default behaviour.
 */
export interface SimDelays {
  /** switch-to-configuration takes this long between making the system current and restarting services. */
  readonly activationMs: number;
  /** Its services start listening this long after they are started (boot or activation): late health. */
  readonly servicesMs: number;
  /** A reboot command takes the machine down after this long (default 100 ms); it stays reachable meanwhile. */
  readonly shutdownMs: number;
  /** The reboot command itself takes this long to return (the shutdown has begun meanwhile). */
  readonly rebootCommandMs: number;
  /** Once down, the machine takes this long to boot again (instead of the homelab's boot time). */
  readonly bootMs: number;
}

const delayFiles: Record<keyof SimDelays, string> = {
  activationMs: 'activation-delay',
  servicesMs: 'services-delay',
  shutdownMs: 'shutdown-delay',
  rebootCommandMs: 'reboot-command-delay',
  bootMs: 'boot-delay',
};

const initScript = join(import.meta.dirname, 'machine-init.sh');
export const servicesScript = join(import.meta.dirname, 'services.pl');

/**
 * One simulated machine: its namespaces' PID 1 is machine-init.sh, run under `unshare`. When
 * PID 1 exits (a reboot from inside, or `kill` from here) everything in the machine dies; the
 * supervisor records it, waits the boot time, and boots it again with a new boot id.
 */
export class SimMachine {
  private process: ChildProcess | undefined;
  private stopping = false;
  private bootTimer: NodeJS.Timeout | undefined;
  private upWaiters: (() => void)[] = [];
  private currentBoot: string | undefined;
  private sessions: FSWatcher | undefined;
  private sshdLogOffset = 0;
  private sshdLogRest = '';
  /** Switched off at its power switch: it stays down until switched on. */
  private poweredOff = false;
  private booting = false;
  private powerServer: Server | undefined;
  private wolSocket: UdpSocket | undefined;

  constructor(
    readonly name: string,
    readonly address: string,
    readonly sshPort: number,
    readonly dir: string,
    private readonly bootTimeMs: number,
    /** Its network card's MAC, which a magic packet must name to wake it. */
    readonly mac: string = '02:00:00:00:00:01',
  ) {}

  /** Where its power switch listens for commands (test/sim/power-switch.mjs talks to it). */
  get powerSocket(): string {
    return join(this.dir, 'power.sock');
  }

  /**
   * Its power switch: a command socket (on, off, cycle, status) and Wake-on-LAN, a UDP port on
   * its own address that boots it when it is down and a well-formed magic packet for its MAC
   * arrives (anything else is recorded and ignored, as a network card does).
   */
  async startPowerSwitch(wolPort: number): Promise<void> {
    rmSync(this.powerSocket, { force: true });
    this.powerServer = createServer((client) => {
      let input = '';
      client.on('error', () => {});
      client.on('data', (chunk) => {
        input += chunk.toString();
        if (!input.includes('\n')) return;
        const action = input.trim();
        this.switchPower(action)
          .then((reply) => client.end(`${reply}\n`))
          .catch((error: unknown) => client.end(`error ${String(error)}\n`));
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.powerServer?.once('error', reject);
      this.powerServer?.listen(this.powerSocket, () => resolve());
    });
    const socket = createSocket('udp4');
    this.wolSocket = socket;
    socket.on('message', (packet) => {
      const target = magicPacketTarget(packet);
      const wakes = target === this.mac.toLowerCase() && !this.isUp && !this.booting;
      this.recordPower({ event: 'wol', detail: target ?? 'malformed', switched: wakes, at: Date.now() });
      if (wakes) void this.switchOn();
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(wolPort, this.address, () => resolve());
    });
  }

  /** Every action of its power switch, in order. */
  powerLog(): PowerRecord[] {
    return readLines(join(this.dir, 'power.log')).map((line) => JSON.parse(line) as PowerRecord);
  }

  /** Whether its power is on (it may still be booting, or hung). */
  get powerIsOn(): boolean {
    return !this.poweredOff;
  }

  private async switchPower(action: string): Promise<string> {
    const at = Date.now();
    switch (action) {
      case 'status':
        this.recordPower({ event: 'status', detail: '', switched: false, at });
        return `ok power ${this.poweredOff ? 'off' : 'on'}${this.isUp ? '' : this.poweredOff ? '' : ' (not answering)'}`;
      case 'off': {
        const was = !this.poweredOff;
        await this.switchOff();
        this.recordPower({ event: 'off', detail: '', switched: was, at });
        return 'ok power off';
      }
      case 'on': {
        const switched = !this.isUp && !this.booting;
        this.recordPower({ event: 'on', detail: '', switched, at });
        if (switched) void this.switchOn();
        return 'ok power on';
      }
      case 'cycle':
        await this.switchOff();
        this.recordPower({ event: 'cycle', detail: '', switched: true, at });
        void this.switchOn();
        return 'ok power cycled';
      default:
        return `error unknown action ${JSON.stringify(action)}`;
    }
  }

  /** Cuts the power: everything in the machine dies at once; it stays off. */
  private async switchOff(): Promise<void> {
    this.poweredOff = true;
    clearTimeout(this.bootTimer);
    const child = this.process;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }

  /** Power on: it boots after its boot time (a dead machine does not). */
  private async switchOn(): Promise<void> {
    this.poweredOff = false;
    if (this.isUp || this.booting || this.faults.includes('dead')) return;
    this.booting = true;
    clearTimeout(this.bootTimer);
    try {
      await new Promise((resolve) => setTimeout(resolve, this.ownBootTimeMs()));
      if (!this.stopping && !this.poweredOff) await this.bootWhenGone();
    } finally {
      this.booting = false;
    }
  }

  private recordPower(record: PowerRecord): void {
    appendFileSync(join(this.dir, 'power.log'), `${JSON.stringify(record)}\n`);
  }

  get isUp(): boolean {
    return this.currentBoot !== undefined;
  }

  /** Whether systemd is PID 1 on it (see SimMachineSpec.systemd). */
  get hasSystemd(): boolean {
    return existsSync(join(this.dir, 'systemd'));
  }

  get faults(): Fault[] {
    return JSON.parse(readFileSync(join(this.dir, 'services.json'), 'utf8')).faults;
  }

  setFaults(faults: Fault[]): void {
    const spec = JSON.parse(readFileSync(join(this.dir, 'services.json'), 'utf8'));
    writeFileSync(join(this.dir, 'services.json'), JSON.stringify({ ...spec, faults }));
  }

  /**
   * Stops one of the machine's services (by port) while it runs, as `systemctl stop` does: its
   * port refuses from now on. A boot starts it again, as on NixOS; so does startService.
   */
  stopService(port: number): void {
    this.setStoppedServices([...new Set([...this.stoppedServices(), port])]);
  }

  startService(port: number): void {
    this.setStoppedServices(this.stoppedServices().filter((stopped) => stopped !== port));
  }

  private stoppedServices(): number[] {
    try {
      return JSON.parse(readFileSync(join(this.dir, 'stopped-services'), 'utf8'));
    } catch {
      return [];
    }
  }

  private setStoppedServices(ports: number[]): void {
    writeFileSync(join(this.dir, 'stopped-services.new'), JSON.stringify(ports));
    renameSync(join(this.dir, 'stopped-services.new'), join(this.dir, 'stopped-services'));
  }

  /** Starts the machine and resolves once its sshd accepts connections. */
  async boot(): Promise<void> {
    rmSync(join(this.dir, 'stopped-services'), { force: true });
    if (this.faults.includes('host-key-changed')) {
      await newHostKey(this.dir);
      this.setFaults(this.faults.filter((fault) => fault !== 'host-key-changed'));
    }
    const bootId = randomUUID();
    writeFileSync(join(this.dir, 'boot_id'), `${bootId}\n`);
    const log = openSync(join(this.dir, 'console.log'), 'a');
    const child = spawn(
      'unshare',
      [
        '--mount',
        '--uts',
        '--pid',
        '--fork',
        '--kill-child',
        '--mount-proc',
        initScript,
        this.dir,
        servicesScript,
      ],
      { stdio: ['ignore', log, log] },
    );
    this.process = child;
    child.on('exit', () => this.onDown(bootId, child));
    if (this.hasSystemd) this.watchSessions();
    await this.waitForSsh(child);
    if (this.process !== child || child.exitCode !== null) return;
    this.currentBoot = bootId;
    this.record({ event: 'up', bootId, at: Date.now() });
    for (const waiter of this.upWaiters.splice(0)) waiter();
  }

  /** Resolves when the machine is up (now, or after its current reboot). */
  whenUp(): Promise<void> {
    return this.isUp ? Promise.resolve() : new Promise((resolve) => this.upWaiters.push(resolve));
  }

  /** Pulls the plug from outside (the machine's own `systemctl reboot` does the same from inside). */
  async powerCycle(): Promise<void> {
    this.process?.kill('SIGKILL');
  }

  /**
   * Freezes (SIGSTOP) or thaws (SIGCONT) every process of the machine: it stops answering
   * without closing connections, like a machine that vanished from the network.
   */
  freeze(frozen: boolean): void {
    const pid = this.process?.pid;
    if (pid === undefined) return;
    for (const child of descendants(pid)) {
      try {
        process.kill(child, frozen ? 'SIGSTOP' : 'SIGCONT');
      } catch {
        // exited meanwhile (e.g. a session whose connection just dropped)
      }
    }
  }

  /** Makes the machine slow (or fast again, with 0) from now on: see SimDelays. */
  setDelays(delays: Partial<SimDelays>): void {
    for (const [key, ms] of Object.entries(delays) as [keyof SimDelays, number][]) {
      const file = join(this.dir, delayFiles[key]);
      if (ms > 0) writeFileSync(file, `${ms / 1000}\n`);
      else rmSync(file, { force: true });
    }
  }

  /**
   * Drops every SSH session of the machine at once, as a network failure or an sshd restarted
   * with its sessions does: sshd's per-connection processes are killed (the clients see their
   * connections drop). Where systemd is PID 1, each session's scope is then stopped as well, which
   * kills whatever the session started, detached or not (see endSession).
   */
  dropSessions(): number {
    const pid = this.process?.pid;
    if (pid === undefined) return 0;
    const processes = descendants(pid);
    const connections = processes.filter((child) => {
      const command = readCommandLine(child);
      return command.startsWith('sshd: ') && !command.includes('[listener]');
    });
    for (const child of connections) kill(child);
    if (this.hasSystemd) for (const child of processes) if (sessionOf(child) !== null) kill(child);
    return connections.length;
  }

  /**
   * logind's part where systemd is PID 1: a session's processes live in its scope (here: they
   * carry its SSH_CONNECTION, inherited by everything they start, setsid or not), and when the
   * session ends the scope is stopped and they are killed (KillUserProcesses=yes, or a
   * per-connection sshd unit). What systemd itself started (units, services) is not in it.
   */
  private watchSessions(): void {
    if (this.sessions) return;
    const log = join(this.dir, 'sshd.log');
    this.sessions = watch(log, () => this.readSshdLog(log));
    this.readSshdLog(log);
  }

  private readSshdLog(log: string): void {
    const fd = openSync(log, 'r');
    try {
      const buffer = Buffer.alloc(64 * 1024);
      for (;;) {
        const read = readSync(fd, buffer, 0, buffer.length, this.sshdLogOffset);
        if (read <= 0) break;
        this.sshdLogOffset += read;
        this.sshdLogRest += buffer.subarray(0, read).toString('utf8');
      }
    } finally {
      closeSync(fd);
    }
    const lines = this.sshdLogRest.split('\n');
    this.sshdLogRest = lines.pop() ?? '';
    for (const line of lines) {
      const ended =
        /(?:Disconnected from|Connection closed by|Connection reset by|Closing connection to|Received disconnect from|Timeout, client not responding from)(?: user \S+)?(?: authenticating user \S+)? (\S+) port (\d+)/.exec(
          line,
        );
      if (ended) this.endSession(`${ended[1]} ${ended[2]}`);
    }
  }

  /** Stops the scope of the session from `client` ("address port"): kills every process of it. */
  private endSession(client: string): void {
    const pid = this.process?.pid;
    if (pid === undefined) return;
    for (const child of descendants(pid)) if (sessionOf(child)?.startsWith(`${client} `)) kill(child);
  }

  /** The transient units systemd-run started (from units.log). */
  units(): UnitRecord[] {
    return readLines(join(this.dir, 'units.log')).map((line) => {
      const [event, unit, ...rest] = line.split(' ');
      const at = Number(rest.at(-1));
      return {
        event: event as UnitRecord['event'],
        unit: unit ?? '',
        status: event === 'exit' ? Number(rest[0]) : null,
        at,
      };
    });
  }

  /** Its boot menu, read from its /boot as the firmware would. */
  bootMenu(): BootMenu {
    const boot = join(this.dir, 'boot', 'loader');
    const entries = new Map<number, string>();
    const entryFiles = existsSync(join(boot, 'entries')) ? readdirSync(join(boot, 'entries')) : [];
    const systemOf = (file: string) =>
      /^options .*init=(\S+)\/init/m.exec(readFileSync(join(boot, 'entries', file), 'utf8'))?.[1] ?? null;
    for (const file of entryFiles) {
      const generation = /^nixos-generation-(\d+)\.conf$/.exec(file)?.[1];
      const system = systemOf(file);
      if (generation !== undefined && system !== null) entries.set(Number(generation), system);
    }
    const conf = existsSync(join(boot, 'loader.conf')) ? readFileSync(join(boot, 'loader.conf'), 'utf8') : '';
    const defaultFile = /^default\s+(\S+)/m.exec(conf)?.[1] ?? null;
    const defaultGeneration = defaultFile
      ? Number(/^nixos-generation-(\d+)\.conf$/.exec(defaultFile)?.[1] ?? Number.NaN)
      : null;
    return {
      defaultGeneration: Number.isNaN(defaultGeneration) ? null : defaultGeneration,
      defaultSystem: defaultFile && entryFiles.includes(defaultFile) ? systemOf(defaultFile) : null,
      entries: new Map([...entries].sort(([a], [b]) => a - b)),
    };
  }

  /** Its system profile, read from its /nix/var/nix/profiles. */
  profile(): SystemProfile {
    const profiles = join(this.dir, 'nix', 'var', 'nix', 'profiles');
    const generations = new Map<number, string>();
    for (const name of readdirSync(profiles)) {
      const generation = /^system-(\d+)-link$/.exec(name)?.[1];
      if (generation !== undefined) generations.set(Number(generation), readlinkSync(join(profiles, name)));
    }
    const current = /^system-(\d+)-link$/.exec(readlinkSync(join(profiles, 'system')))?.[1];
    return {
      current: current === undefined ? null : Number(current),
      generations: new Map([...generations].sort(([a], [b]) => a - b)),
    };
  }

  activations(): ActivationRecord[] {
    return readLines(join(this.dir, 'activations.log')).map((line) => {
      const [event, action, system, at] = line.split(' ');
      return {
        event: event as ActivationRecord['event'],
        action: action ?? '',
        system: system ?? '',
        at: Number(at),
      };
    });
  }

  rebootRequests(): RebootRequest[] {
    return readLines(join(this.dir, 'reboot-requests.log')).map((line) => {
      const [command, bootId, at] = line.split(' ');
      return { command: command ?? '', bootId: bootId ?? '', at: Number(at) };
    });
  }

  bootLog(): BootRecord[] {
    let text = '';
    try {
      text = readFileSync(join(this.dir, 'boots.jsonl'), 'utf8');
    } catch {
      return [];
    }
    const records = new Map<string, { bootId: string; upAt: number; downAt: number | null }>();
    for (const line of text.split('\n').filter(Boolean)) {
      const entry = JSON.parse(line) as { event: 'up' | 'down'; bootId: string; at: number };
      if (entry.event === 'up')
        records.set(entry.bootId, { bootId: entry.bootId, upAt: entry.at, downAt: null });
      else {
        const record = records.get(entry.bootId);
        if (record) record.downAt = entry.at;
      }
    }
    return [...records.values()];
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.bootTimer);
    this.sessions?.close();
    this.powerServer?.close();
    this.powerServer = undefined;
    try {
      this.wolSocket?.close();
    } catch {
      // already closed (a second stop)
    }
    this.wolSocket = undefined;
    const child = this.process;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }

  private onDown(bootId: string, child: ChildProcess): void {
    if (this.process !== child) return;
    if (this.currentBoot === bootId) this.record({ event: 'down', bootId, at: Date.now() });
    this.currentBoot = undefined;
    this.process = undefined;
    if (
      this.stopping ||
      this.poweredOff ||
      this.faults.includes('never-comes-back') ||
      this.faults.includes('dead')
    )
      return;
    const bootTime = this.faults.includes('slow-boot') ? this.bootTimeMs * 10 : this.ownBootTimeMs();
    this.bootTimer = setTimeout(() => {
      this.bootWhenGone().catch((error) =>
        appendFileSync(join(this.dir, 'console.log'), `boot failed: ${error}\n`),
      );
    }, bootTime);
  }

  /**
   * The kernel tears a PID namespace down asynchronously: under load the old sshd and services
   * can still hold their ports when the boot time is over. Boot only once they are gone.
   */
  private async bootWhenGone(): Promise<void> {
    while (!this.stopping && remainingProcesses(this.dir) > 0)
      await new Promise((resolve) => setTimeout(resolve, 20));
    if (!this.stopping) await this.boot();
  }

  /** The boot time set with setDelays({ bootMs }), else the homelab's. */
  private ownBootTimeMs(): number {
    try {
      return Number(readFileSync(join(this.dir, delayFiles.bootMs), 'utf8')) * 1000;
    } catch {
      return this.bootTimeMs;
    }
  }

  private record(entry: { event: 'up' | 'down'; bootId: string; at: number }): void {
    appendFileSync(join(this.dir, 'boots.jsonl'), `${JSON.stringify(entry)}\n`);
  }

  /** Polls the machine's sshd port until it accepts (or the machine died). */
  private async waitForSsh(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      if (await canConnect(this.address, this.sshPort)) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (child.exitCode === null && child.signalCode === null) {
      throw new Error(`${this.name}: sshd did not start (see ${join(this.dir, 'console.log')} and sshd.log)`);
    }
  }
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Processes whose command line names the machine's state directory (its init, sshd, services). */
function remainingProcesses(dir: string): number {
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(`${dir}/`)) count++;
    } catch {
      // gone meanwhile
    }
  }
  return count;
}

function readCommandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/** The SSH_CONNECTION ("client port server port") a process inherited from its session, if any. */
function sessionOf(pid: number): string | null {
  try {
    const environment = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    return environment.find((entry) => entry.startsWith('SSH_CONNECTION='))?.slice(15) ?? null;
  } catch {
    return null;
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}

function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

export function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function newHostKey(dir: string): Promise<void> {
  const key = join(dir, 'ssh_host_ed25519_key');
  await execa('rm', ['-f', key, `${key}.pub`]);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'sim-host', '-f', key]);
}
