import { describeExit } from '../../transport/ssh/errors.js';
import {
  defaultSshTimeouts,
  type ExecResult,
  type SshCredentials,
} from '../../transport/ssh/ssh-connection.js';
import { SshPool } from '../../transport/ssh/ssh-pool.js';
import { pause } from '../../util/pause.js';
import { checkMachine } from '../health/check-machine.js';
import type { MachineHealth } from '../health/check-result.js';
import { type HostFacts, readHostFacts } from '../hosts/host-facts.js';
import { sshTarget } from '../hosts/ssh-target.js';
import type { Machine } from '../inventory/schema.js';
import { BootIdChangedError, RebootCommandError, RebootTimeoutError } from './errors.js';
import { bootIdChanged, guardedRebootCommand } from './reboot-command.js';
import type { MachineAnswer, RebootHost } from './reboot-host.js';
import { BOOT_ID_COMMAND, probeSsh, type SshProbe } from './ssh-probe.js';

/** "stopping" once a shutdown (a reboot) is under way; exits non-zero unless "running". */
const SYSTEM_STATE_COMMAND = 'systemctl is-system-running';

/**
 * While a machine is down, its SSH port is tried this often: a refused TCP connect costs nothing
 * (one syscall), and the sooner one after sshd listens again, the sooner the machine is back.
 */
const PORT_POLL_MS = 25;
/**
 * One TCP connect attempt of the reboot poll. Unanswered, it is tried again: only silence that
 * lasts the full SSH connect timeout (10 s) finds the machine down (off the network), so a machine
 * too loaded to accept for a moment is not reported down.
 */
const TCP_CONNECT_MS = 1_000;
/** Between SSH probes of a machine that still runs its old boot (its shutdown has not begun). */
const OLD_BOOT_POLL_MS = 100;

/**
 * Reboots over SSH: one pooled connection per machine; while one reboots, fresh probes (a TCP
 * connect, then SSH over it).
 */
export class SshRebootHost implements RebootHost {
  protected readonly pool: SshPool;
  /** Boot ids read (or being read) while warming, until their machine's turn takes them. */
  private readonly readAhead = new Map<string, Promise<string | null>>();

  constructor(protected readonly credentials: SshCredentials) {
    this.pool = new SshPool(credentials);
  }

  async bootId(machine: Machine): Promise<string> {
    const connection = await this.pool.connection(sshTarget(machine));
    return (await connection.exec(BOOT_ID_COMMAND, { timeoutMs: 10_000 })).stdout.trim();
  }

  async facts(machine: Machine): Promise<HostFacts> {
    return readHostFacts(await this.pool.connection(sshTarget(machine)));
  }

  async shuttingDown(machine: Machine): Promise<boolean> {
    const connection = await this.pool.connection(sshTarget(machine));
    const result = await connection.exec(SYSTEM_STATE_COMMAND, {
      timeoutMs: 10_000,
      allowFailure: true,
    });
    return result.stdout.trim() === 'stopping';
  }

  async sendReboot(machine: Machine, command: readonly string[], bootId: string): Promise<void> {
    const target = sshTarget(machine);
    const connection = await this.pool.connection(target);
    if (command.length === 0) throw new RebootCommandError(machine.name, 'the reboot command is empty');
    let result: ExecResult;
    try {
      result = await connection.exec(guardedRebootCommand(command), {
        timeoutMs: 15_000,
        allowFailure: true,
        input: `${bootId}\n`,
      });
    } catch {
      // The connection dropped or the command hung while the machine went down: that is the reboot.
      await this.pool.drop(target);
      return;
    }
    // Not sent: the connection stays, it serves the boot id read that follows.
    if (bootIdChanged(result)) throw new BootIdChangedError(machine.name, bootId);
    await this.pool.drop(target);
    // A number means the command finished on its own; the reboot then drops the connection.
    if (typeof result.exitCode === 'number' && result.exitCode !== 0) {
      throw new RebootCommandError(machine.name, describeExit(result));
    }
  }

  async waitForNewBoot(
    machine: Machine,
    previousBootId: string,
    options: { deadline: number; signal?: AbortSignal; onDown?: () => void },
  ): Promise<{ bootId: string; downMs: number }> {
    const target = sshTarget(machine);
    let downSince: number | null = null;
    /** Since when every TCP connect went unanswered (null: the last one got an answer). */
    let silentSince: number | null = null;
    let lastSeen: 'down' | 'old boot' = 'old boot';
    const started = Date.now();
    while (Date.now() < options.deadline && !options.signal?.aborted) {
      const attemptAt = Date.now();
      const probe = await probeSsh(target, this.credentials, {
        deadline: options.deadline,
        tcpConnectMs: TCP_CONNECT_MS,
      });
      let wait = OLD_BOOT_POLL_MS;
      if (probe.kind === 'no answer') silentSince ??= attemptAt;
      else silentSince = null;
      // Silence is evidence once it has lasted a full connect timeout: then it began at silentSince.
      const silentFor = silentSince === null ? 0 : Date.now() - silentSince;
      const down = probe.kind === 'down' || silentFor >= defaultSshTimeouts.connectMs;
      if (probe.kind === 'no answer') wait = PORT_POLL_MS;
      if (down) {
        lastSeen = 'down';
        wait = PORT_POLL_MS;
        if (downSince === null) {
          downSince = probe.kind === 'down' ? Date.now() : (silentSince ?? Date.now());
          options.onDown?.();
        }
      } else if (probe.kind === 'up') {
        if (probe.bootId !== previousBootId) {
          // Back: the probe's connection serves the health checks that follow (one handshake less).
          this.pool.adopt(target, probe.connection);
          return { bootId: probe.bootId, downMs: Date.now() - (downSince ?? Date.now()) };
        }
        probe.connection.close();
        lastSeen = 'old boot';
      }
      await pause(Math.min(wait, options.deadline - Date.now()), options.signal);
    }
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
    const seconds = Math.round((options.deadline - started) / 1000);
    if (silentSince !== null && lastSeen !== 'down') {
      throw new RebootTimeoutError(
        machine.name,
        seconds,
        'no answer',
        Math.round((Date.now() - silentSince) / 1000),
      );
    }
    throw new RebootTimeoutError(machine.name, seconds, lastSeen);
  }

  /**
   * One look at the machine with the full timeouts (a TCP connect and the SSH handshake each get
   * the whole SSH connect timeout): what lab asks just before a power action, so that it never
   * powers off a machine that answers. `down` only on evidence (see SshProbe).
   */
  async probe(machine: Machine): Promise<MachineAnswer> {
    const target = sshTarget(machine);
    let probe: SshProbe;
    try {
      probe = await probeSsh(target, this.credentials, {
        deadline: Date.now() + 3 * defaultSshTimeouts.connectMs,
        tcpConnectMs: defaultSshTimeouts.connectMs,
      });
    } catch (error) {
      // A host key or authentication refusal: something answers SSH there.
      return { kind: 'answers', bootId: null, reason: (error as Error).message };
    }
    if (probe.kind === 'up') {
      this.pool.adopt(target, probe.connection);
      return { kind: 'answers', bootId: probe.bootId, reason: null };
    }
    if (probe.kind === 'down') return { kind: 'down', reason: probe.reason };
    return { kind: 'unknown', reason: probe.reason };
  }

  checkHealth(machine: Machine): Promise<MachineHealth> {
    return checkMachine(this.pool, machine);
  }

  /**
   * Opens the machines' connections and reads their boot ids ahead (see bootIdReadAhead), once
   * per machine: every machine of a step asks for the next step's, at once.
   */
  warm(machines: readonly Machine[]): void {
    for (const machine of machines) {
      if (this.readAhead.has(machine.name)) continue;
      const read = this.pool
        .connection(sshTarget(machine))
        .then((connection) => connection.exec(BOOT_ID_COMMAND, { timeoutMs: 10_000 }))
        .then((result) => result.stdout.trim())
        .catch(() => null);
      this.readAhead.set(machine.name, read);
    }
  }

  async bootIdReadAhead(machine: Machine): Promise<string | null> {
    const read = this.readAhead.get(machine.name);
    this.readAhead.delete(machine.name);
    return (await read) ?? null;
  }

  close(): Promise<void> {
    return this.pool.closeAll();
  }
}
