import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';

export type Fault = 'never-comes-back' | 'health-fails' | 'slow-boot' | 'host-key-changed';

export type SimService =
  | { type: 'http'; port: number; path?: string; status?: number }
  | { type: 'tcp'; port: number };

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
export const servicesScript = join(import.meta.dirname, 'services.mjs');

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

  constructor(
    readonly name: string,
    readonly address: string,
    readonly sshPort: number,
    readonly dir: string,
    private readonly bootTimeMs: number,
  ) {}

  get isUp(): boolean {
    return this.currentBoot !== undefined;
  }

  get faults(): Fault[] {
    return JSON.parse(readFileSync(join(this.dir, 'services.json'), 'utf8')).faults;
  }

  setFaults(faults: Fault[]): void {
    const spec = JSON.parse(readFileSync(join(this.dir, 'services.json'), 'utf8'));
    writeFileSync(join(this.dir, 'services.json'), JSON.stringify({ ...spec, faults }));
  }

  /** Starts the machine and resolves once its sshd accepts connections. */
  async boot(): Promise<void> {
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
    if (this.stopping || this.faults.includes('never-comes-back')) return;
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
