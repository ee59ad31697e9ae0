import { randomBytes } from 'node:crypto';
import { type NixSettings, nixErrorMessage } from '../../transport/process/nix.js';
import { describeExit, HostUnreachableError, SshTimeoutError } from '../../transport/ssh/errors.js';
import type { SshCredentials } from '../../transport/ssh/ssh-connection.js';
import { pause } from '../../util/pause.js';
import { sshTarget } from '../hosts/ssh-target.js';
import type { Machine } from '../inventory/schema.js';
import { SshRebootHost } from '../reboot/ssh-reboot-host.js';
import { activationCommand } from './activation-command.js';
import type { SystemPaths } from './build-systems.js';
import { type CopySsh, copyClosure } from './copy-closure.js';
import type { DeployHost, MachineSystems, SwitchAction } from './deploy-host.js';
import { ActivationError, BuildError, PreviewStepError } from './errors.js';
import { parseSystems, profileGeneration, READ_SYSTEMS_COMMAND } from './machine-systems.js';
import { closureSizesCommand, diffClosuresCommand, dryActivateCommand } from './preview-commands.js';
import type { PreviewHost } from './preview-host.js';
import { parseClosureSizes } from './preview-parsers.js';
import { realiseCommand, restoreProfileCommand, setProfileCommand } from './remote-commands.js';

/** Activation may restart many services: generous, but not unbounded. */
const ACTIVATION_TIMEOUT_MS = 10 * 60_000;
/** A preview's diff or dry activation reads a store and unit files: a minute is plenty. */
const PREVIEW_TIMEOUT_MS = 60_000;
/** Building a whole system on a small machine can take long. */
const BUILD_TIMEOUT_MS = 3 * 60 * 60_000;
/** After lab's connection dropped mid-activation: how long it tries to get back to it, and how often. */
const REATTACH_FOR_MS = 2 * 60_000;
const REATTACH_PAUSE_MS = 500;

/** Deploys over SSH (and nix copy over ssh-ng), sharing connections with health checks. */
export class SshDeployHost extends SshRebootHost implements DeployHost, PreviewHost {
  constructor(
    credentials: SshCredentials,
    private readonly nix: NixSettings,
    private readonly options: { substituteOnTarget?: boolean; buildOnTarget?: boolean } = {},
  ) {
    super(credentials);
  }

  /** A deploy's turn reads the machine's systems, not its boot id: only the connections open. */
  override warm(machines: readonly Machine[]): void {
    for (const machine of machines) this.pool.connection(sshTarget(machine)).catch(() => {});
  }

  async systems(machine: Machine): Promise<MachineSystems> {
    const connection = await this.pool.connection(sshTarget(machine));
    const result = await connection.exec(READ_SYSTEMS_COMMAND, { timeoutMs: 10_000 });
    return parseSystems(result.stdout);
  }

  /** How nix's ssh logs in for copies: lab's key file (not its agent) and known_hosts. */
  private copySsh(): CopySsh {
    const { keyPath, knownHostsPath, passphrase, agent } = this.credentials;
    return { keyPath, knownHostsPath, encryptedKey: Boolean(passphrase) && !agent };
  }

  async copy(machine: Machine, system: string, signal?: AbortSignal): Promise<void> {
    if (this.options.buildOnTarget) return; // built there: the closure is already in its store
    await copyClosure(this.nix, sshTarget(machine), this.copySsh(), system, {
      substituteOnTarget: this.options.substituteOnTarget,
      signal,
    });
  }

  /**
   * --build-on-target: copies the system's derivation closure to the machine and builds it
   * there. Touches the machine's store only, not what it runs.
   */
  async buildOnTarget(machine: Machine, paths: SystemPaths): Promise<void> {
    await copyClosure(this.nix, sshTarget(machine), this.copySsh(), paths.drvPath, {
      substituteOnTarget: this.options.substituteOnTarget,
      derivation: true,
    });
    const connection = await this.pool.connection(sshTarget(machine));
    const result = await connection.exec(realiseCommand(paths.drvPath), {
      timeoutMs: BUILD_TIMEOUT_MS,
      allowFailure: true,
    });
    if (result.exitCode !== 0) {
      throw new BuildError(`on ${machine.name}: ${nixErrorMessage(result.stderr)}`);
    }
  }

  async setProfile(machine: Machine, system: string): Promise<number | null> {
    const output = await this.run(machine, setProfileCommand(system), 'set profile');
    return profileGeneration(output.split('\n').at(-1) ?? '');
  }

  async restoreProfile(machine: Machine, generation: number, created: number | null): Promise<void> {
    await this.run(machine, restoreProfileCommand(generation, created), 'profile rollback');
  }

  /**
   * The activation, once per id. If lab's connection drops meanwhile (the network, an sshd the
   * activation restarts), the activation goes on outside the session: lab connects again and waits
   * for the same one (the same id) instead of reporting a failure it did not see.
   */
  async switchTo(
    machine: Machine,
    system: string,
    action: SwitchAction,
    id = `activation-${randomBytes(8).toString('hex')}`,
  ): Promise<void> {
    const command = activationCommand(id, system, action);
    const target = sshTarget(machine);
    let lostSince: number | null = null;
    for (;;) {
      try {
        const connection = await this.pool.connection(target);
        const result = await connection.exec(command, {
          timeoutMs: ACTIVATION_TIMEOUT_MS,
          allowFailure: true,
        });
        if (result.exitCode !== 0) throw new ActivationError(machine.name, action, describeExit(result));
        return;
      } catch (error) {
        // Lost: the connection dropped, or (after that) connecting again failed or timed out.
        const lost =
          error instanceof HostUnreachableError || (lostSince !== null && error instanceof SshTimeoutError);
        if (!lost) throw error;
        lostSince ??= Date.now();
        if (Date.now() - lostSince > REATTACH_FOR_MS) throw error;
        await pause(REATTACH_PAUSE_MS);
      }
    }
  }

  async diffClosures(machine: Machine, from: string, to: string): Promise<string> {
    return this.read(machine, diffClosuresCommand(from, to), 'diff');
  }

  async closureSizes(machine: Machine, paths: readonly string[]): Promise<Map<string, number>> {
    const output = await this.read(machine, closureSizesCommand(paths), 'size');
    try {
      return parseClosureSizes(output);
    } catch (error) {
      throw new PreviewStepError(
        machine.name,
        'size',
        `unreadable output of nix path-info: ${(error as Error).message}`,
      );
    }
  }

  async dryActivate(machine: Machine, system: string): Promise<string> {
    return this.read(machine, dryActivateCommand(system), 'dry-activate');
  }

  /** A preview's read-only command: its stdout, or a PreviewStepError with what the machine said. */
  private async read(machine: Machine, command: string, step: string): Promise<string> {
    const connection = await this.pool.connection(sshTarget(machine));
    const result = await connection.exec(command, { timeoutMs: PREVIEW_TIMEOUT_MS, allowFailure: true });
    if (result.exitCode !== 0) {
      const output = { ...result, stderr: result.stderr || result.stdout };
      const said = step === 'dry-activate' ? describeExit(output) : nixErrorMessage(output.stderr);
      throw new PreviewStepError(machine.name, step, said);
    }
    return result.stdout;
  }

  /** Runs a command; resolves with its stdout (trimmed), or fails with what the machine said. */
  private async run(machine: Machine, command: string, action: string): Promise<string> {
    const connection = await this.pool.connection(sshTarget(machine));
    const result = await connection.exec(command, { timeoutMs: ACTIVATION_TIMEOUT_MS, allowFailure: true });
    if (result.exitCode !== 0) {
      throw new ActivationError(machine.name, action, describeExit(result));
    }
    return result.stdout.trim();
  }
}
