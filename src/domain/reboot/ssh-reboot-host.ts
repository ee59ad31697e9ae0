import { describeExit, HostKeyError, SshAuthError, type SshTarget } from '../../transport/ssh/errors.js';
import { commandLine } from '../../transport/ssh/shell.js';
import { SshConnection, type SshCredentials } from '../../transport/ssh/ssh-connection.js';
import { SshPool } from '../../transport/ssh/ssh-pool.js';
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

/** Polling for a machine to come back: every 100 ms (a refused TCP connect costs nothing). */
const FIRST_POLL_MS = 100;
const MAX_POLL_MS = 100;
const POLL_CONNECT_MS = 3_000;

/** Reboots over SSH: one pooled connection per machine, fresh short-timeout probes while it is down. */
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
    let interval = FIRST_POLL_MS;
    let lastSeen: 'down' | 'old boot' = 'old boot';
    const started = Date.now();
    while (Date.now() < options.deadline && !options.signal?.aborted) {
      const probe = await this.probeBootId(target, options.deadline);
      const bootId = probe?.bootId ?? null;
      if (bootId !== previousBootId) {
        // Back: the probe's connection serves the health checks that follow (one handshake less).
        if (probe && bootId !== null) this.pool.adopt(target, probe.connection);
      } else probe?.connection.close();
      if (bootId === null) {
        lastSeen = 'down';
        if (downSince === null) {
          downSince = Date.now();
          options.onDown?.();
          interval = FIRST_POLL_MS;
        }
      } else if (bootId !== previousBootId) {
        return { bootId, downMs: Date.now() - (downSince ?? Date.now()) };
      } else {
        lastSeen = 'old boot';
      }
      await pause(Math.min(interval, options.deadline - Date.now()), options.signal);
      interval = Math.min(Math.round(interval * 1.5), MAX_POLL_MS);
    }
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
    throw new RebootTimeoutError(machine.name, Math.round((options.deadline - started) / 1000), lastSeen);
  }

  checkHealth(machine: Machine): Promise<MachineHealth> {
    return checkMachine(this.pool, machine);
  }

  close(): Promise<void> {
    return this.pool.closeAll();
  }

  /** The boot id, or null while the machine does not answer. Key and auth refusals are fatal. */
  private async probeBootId(
    target: SshTarget,
    deadline: number,
  ): Promise<{ bootId: string; connection: SshConnection } | null> {
    let connection: SshConnection | undefined;
    try {
      const connectMs = Math.max(200, Math.min(POLL_CONNECT_MS, deadline - Date.now()));
      connection = await SshConnection.connect(target, this.credentials, { connectMs, keepaliveMs: 1_000 });
      const bootId = (await connection.exec(BOOT_ID_COMMAND, { timeoutMs: connectMs })).stdout.trim();
      return { bootId, connection };
    } catch (error) {
      connection?.close();
      if (error instanceof HostKeyError || error instanceof SshAuthError) throw error;
      return null;
    }
  }
}
