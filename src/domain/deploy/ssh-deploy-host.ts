import type { NixSettings } from '../../transport/process/nix.js';
import type { SshCredentials } from '../../transport/ssh/ssh-connection.js';
import { sshTarget } from '../hosts/ssh-target.js';
import type { Machine } from '../inventory/schema.js';
import { SshRebootHost } from '../reboot/ssh-reboot-host.js';
import { copyClosure } from './copy-closure.js';
import type { DeployHost, MachineSystems } from './deploy-host.js';
import { ActivationError } from './errors.js';
import {
  parseSystems,
  READ_SYSTEMS_COMMAND,
  rollbackProfileCommand,
  setProfileCommand,
  switchCommand,
} from './remote-commands.js';

/** Activation may restart many services: generous, but not unbounded. */
const ACTIVATION_TIMEOUT_MS = 10 * 60_000;

/** Deploys over SSH (and nix copy over ssh-ng), sharing connections with health checks. */
export class SshDeployHost extends SshRebootHost implements DeployHost {
  constructor(
    credentials: SshCredentials,
    private readonly nix: NixSettings,
    private readonly options: { substituteOnTarget?: boolean } = {},
  ) {
    super(credentials);
  }

  async systems(machine: Machine): Promise<MachineSystems> {
    const connection = await this.pool.connection(sshTarget(machine));
    return parseSystems((await connection.exec(READ_SYSTEMS_COMMAND, { timeoutMs: 10_000 })).stdout);
  }

  copy(machine: Machine, system: string): Promise<void> {
    return copyClosure(
      this.nix,
      sshTarget(machine),
      { keyPath: this.credentials.keyPath, knownHostsPath: this.credentials.knownHostsPath },
      system,
      { substituteOnTarget: this.options.substituteOnTarget },
    );
  }

  setProfile(machine: Machine, system: string): Promise<void> {
    return this.run(machine, setProfileCommand(system), 'set profile');
  }

  rollbackProfile(machine: Machine): Promise<void> {
    return this.run(machine, rollbackProfileCommand(), 'profile rollback');
  }

  switchTo(machine: Machine, system: string, action: 'switch' | 'test'): Promise<void> {
    return this.run(machine, switchCommand(system, action), action);
  }

  private async run(machine: Machine, command: string, action: string): Promise<void> {
    const connection = await this.pool.connection(sshTarget(machine));
    const result = await connection.exec(command, { timeoutMs: ACTIVATION_TIMEOUT_MS, allowFailure: true });
    if (result.exitCode !== 0) {
      const stderr = result.stderr.trim().split('\n').slice(-2).join(' | ');
      const how = result.signal ? `killed by ${result.signal}` : `exit code ${result.exitCode}`;
      throw new ActivationError(machine.name, action, stderr ? `${how}: ${stderr}` : how);
    }
  }
}
