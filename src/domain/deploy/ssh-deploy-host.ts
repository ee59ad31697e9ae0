import { randomBytes } from 'node:crypto';
import { type NixSettings, nixErrorMessage } from '../../transport/process/nix.js';
import { describeExit } from '../../transport/ssh/errors.js';
import type { SshCredentials } from '../../transport/ssh/ssh-connection.js';
import { sshTarget } from '../hosts/ssh-target.js';
import type { Machine } from '../inventory/schema.js';
import { SshRebootHost } from '../reboot/ssh-reboot-host.js';
import type { SystemPaths } from './build-systems.js';
import { type CopySsh, copyClosure } from './copy-closure.js';
import type { DeployHost, MachineSystems } from './deploy-host.js';
import { ActivationError, BuildError } from './errors.js';
import {
  detachedCommand,
  parseSystems,
  READ_SYSTEMS_COMMAND,
  realiseCommand,
  rollbackProfileCommand,
  setProfileCommand,
  switchCommand,
} from './remote-commands.js';

/** Activation may restart many services: generous, but not unbounded. */
const ACTIVATION_TIMEOUT_MS = 10 * 60_000;
/** Building a whole system on a small machine can take long. */
const BUILD_TIMEOUT_MS = 3 * 60 * 60_000;

/** Deploys over SSH (and nix copy over ssh-ng), sharing connections with health checks. */
export class SshDeployHost extends SshRebootHost implements DeployHost {
  constructor(
    credentials: SshCredentials,
    private readonly nix: NixSettings,
    private readonly options: { substituteOnTarget?: boolean; buildOnTarget?: boolean } = {},
  ) {
    super(credentials);
  }

  async systems(machine: Machine): Promise<MachineSystems> {
    const connection = await this.pool.connection(sshTarget(machine));
    return parseSystems((await connection.exec(READ_SYSTEMS_COMMAND, { timeoutMs: 10_000 })).stdout);
  }

  /** How nix's ssh logs in for copies: lab's key file (not its agent) and known_hosts. */
  private copySsh(): CopySsh {
    const { keyPath, knownHostsPath, passphrase, agent } = this.credentials;
    return { keyPath, knownHostsPath, encryptedKey: Boolean(passphrase) && !agent };
  }

  async copy(machine: Machine, system: string): Promise<void> {
    if (this.options.buildOnTarget) return; // built there: the closure is already in its store
    await copyClosure(this.nix, sshTarget(machine), this.copySsh(), system, {
      substituteOnTarget: this.options.substituteOnTarget,
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

  setProfile(machine: Machine, system: string): Promise<void> {
    return this.run(machine, setProfileCommand(system), 'set profile');
  }

  rollbackProfile(machine: Machine): Promise<void> {
    return this.run(machine, rollbackProfileCommand(), 'profile rollback');
  }

  switchTo(
    machine: Machine,
    system: string,
    action: 'switch' | 'test',
    id = `activation-${randomBytes(8).toString('hex')}`,
  ): Promise<void> {
    return this.run(machine, detachedCommand(id, switchCommand(system, action)), action);
  }

  private async run(machine: Machine, command: string, action: string): Promise<void> {
    const connection = await this.pool.connection(sshTarget(machine));
    const result = await connection.exec(command, { timeoutMs: ACTIVATION_TIMEOUT_MS, allowFailure: true });
    if (result.exitCode !== 0) {
      throw new ActivationError(machine.name, action, describeExit(result));
    }
  }
}
