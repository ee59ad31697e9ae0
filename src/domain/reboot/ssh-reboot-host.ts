import type { Socket } from 'node:net';
import {
  describeExit,
  HostKeyError,
  HostUnreachableError,
  SshAuthError,
  type SshTarget,
  SshTimeoutError,
} from '../../transport/ssh/errors.js';
import { commandLine } from '../../transport/ssh/shell.js';
import {
  defaultSshTimeouts,
  SshConnection,
  type SshCredentials,
} from '../../transport/ssh/ssh-connection.js';
import { SshPool } from '../../transport/ssh/ssh-pool.js';
import { connectTcp } from '../../transport/ssh/tcp-connect.js';
import { pause } from '../../util/pause.js';
import { checkMachine } from '../health/check-machine.js';
import type { MachineHealth } from '../health/check-result.js';
import { type HostFacts, readHostFacts } from '../hosts/host-facts.js';
import { sshTarget } from '../hosts/ssh-target.js';
import type { Machine } from '../inventory/schema.js';
import { RebootCommandError, RebootTimeoutError } from './errors.js';
import type { RebootHost } from './reboot-host.js';

const BOOT_ID_COMMAND = 'cat /proc/sys/kernel/random/boot_id';
/** "stopping" once a shutdown (a reboot) is under way; exits non-zero unless "running". */
const SYSTEM_STATE_COMMAND = 'systemctl is-system-running';

/**
 * While a machine is down, its SSH port is tried this often: a refused TCP connect costs nothing
 * (one syscall), and the sooner one after sshd listens again, the sooner the machine is back.
 */
const PORT_POLL_MS = 25;
/** A TCP connect that nobody answers within this long finds the machine down (off the network). */
const TCP_CONNECT_MS = 1_000;
/** Between SSH probes of a machine that still runs its old boot (its shutdown has not begun). */
const OLD_BOOT_POLL_MS = 100;

/**
 * Reboots over SSH: one pooled connection per machine; while one reboots, fresh probes (a TCP
 * connect, then SSH over it).
 */
export class SshRebootHost implements RebootHost {
  protected readonly pool: SshPool;

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

  async sendReboot(machine: Machine, command: readonly string[]): Promise<void> {
    const target = sshTarget(machine);
    const connection = await this.pool.connection(target);
    const [program, ...args] = command;
    if (!program) throw new RebootCommandError(machine.name, 'the reboot command is empty');
    try {
      const result = await connection.exec(commandLine(program, ...args), {
        timeoutMs: 15_000,
        allowFailure: true,
      });
      // A number means the command finished on its own; the reboot then drops the connection.
      if (typeof result.exitCode === 'number' && result.exitCode !== 0) {
        throw new RebootCommandError(machine.name, describeExit(result));
      }
    } catch (error) {
      if (error instanceof RebootCommandError) throw error;
      // The connection dropped or the command hung while the machine went down: that is the reboot.
    } finally {
      await this.pool.drop(target);
    }
  }

  async waitForNewBoot(
    machine: Machine,
    previousBootId: string,
    options: { deadline: number; signal?: AbortSignal; onDown?: () => void },
  ): Promise<{ bootId: string; downMs: number }> {
    const target = sshTarget(machine);
    let downSince: number | null = null;
    let lastSeen: 'down' | 'old boot' = 'old boot';
    const started = Date.now();
    while (Date.now() < options.deadline && !options.signal?.aborted) {
      const probe = await this.probeBootId(target, options.deadline);
      let wait = OLD_BOOT_POLL_MS;
      if (probe.kind === 'down') {
        lastSeen = 'down';
        wait = PORT_POLL_MS;
        if (downSince === null) {
          downSince = Date.now();
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
    throw new RebootTimeoutError(machine.name, Math.round((options.deadline - started) / 1000), lastSeen);
  }

  checkHealth(machine: Machine): Promise<MachineHealth> {
    return checkMachine(this.pool, machine);
  }

  warm(machines: readonly Machine[]): void {
    for (const machine of machines) this.pool.connection(sshTarget(machine)).catch(() => {});
  }

  close(): Promise<void> {
    return this.pool.closeAll();
  }

  /**
   * What the machine answers now. "down" only on evidence: its SSH port refused the connection,
   * reset it or was unreachable, nothing answered the TCP connect within TCP_CONNECT_MS, or SSH
   * failed or did not finish within its full timeout. Once the port accepts, the handshake and
   * the boot id read get that full timeout (a slow machine is not a down one); "unknown" when
   * the deadline cut them short or the command failed. Key and auth refusals are fatal.
   */
  private async probeBootId(target: SshTarget, deadline: number): Promise<Probe> {
    // A timeout is evidence only if it was the full one, not one that the deadline cut short.
    const budget = (fullMs: number) => {
      const ms = Math.min(fullMs, deadline - Date.now());
      return { ms: Math.max(1, ms), full: ms >= fullMs };
    };
    const tcp = budget(TCP_CONNECT_MS);
    let socket: Socket;
    try {
      socket = await connectTcp(target, tcp.ms);
    } catch (error) {
      return error instanceof SshTimeoutError && !tcp.full ? { kind: 'unknown' } : { kind: 'down' };
    }
    let ssh = budget(defaultSshTimeouts.connectMs);
    let connection: SshConnection | undefined;
    try {
      connection = await SshConnection.connect(
        target,
        this.credentials,
        { connectMs: ssh.ms, keepaliveMs: 1_000 },
        socket,
      );
      ssh = budget(defaultSshTimeouts.connectMs);
      const bootId = (await connection.exec(BOOT_ID_COMMAND, { timeoutMs: ssh.ms })).stdout.trim();
      return { kind: 'up', bootId, connection };
    } catch (error) {
      connection?.close();
      socket.destroy();
      if (error instanceof HostKeyError || error instanceof SshAuthError) throw error;
      if (error instanceof HostUnreachableError) return { kind: 'down' };
      if (error instanceof SshTimeoutError && ssh.full) return { kind: 'down' };
      return { kind: 'unknown' };
    }
  }
}

/** One look at a machine that is rebooting; see probeBootId. */
type Probe =
  | { readonly kind: 'up'; readonly bootId: string; readonly connection: SshConnection }
  | { readonly kind: 'down' }
  | { readonly kind: 'unknown' };
