import type { MachineHealth } from '../health/check-result.js';
import type { BootDefault } from '../hosts/boot-default.js';
import type { BootParts, HostFacts } from '../hosts/host-facts.js';
import type { Machine } from '../inventory/schema.js';

/** What a machine runs now, what its system profile points at and what it boots by default. */
export interface MachineSystems {
  /** /run/current-system. */
  readonly current: string | null;
  /** The system profile's store path. */
  readonly profile: string | null;
  /** The profile's generation number (its `system-N-link`); null without a profile. */
  readonly generation: number | null;
  /** What the boot loader boots by default (read from its configuration), or why that is unknown. */
  readonly bootDefault: BootDefault;
  /** /run/booted-system's kernel, initrd and modules (the links' targets); null without one. */
  readonly booted: BootParts | null;
}

/** One switch-to-configuration action, as NixOS has them. */
export type SwitchAction = 'switch' | 'boot' | 'test';

/** What a deploy needs from a machine; the SSH implementation is ./ssh-deploy-host.ts. */
export interface DeployHost {
  systems(machine: Machine): Promise<MachineSystems>;
  /** Copies the system's closure into the machine's store (the signal ends the copy early). */
  copy(machine: Machine, system: string, signal?: AbortSignal): Promise<void>;
  /** Adds the system as the profile's new generation; resolves with that generation's number. */
  setProfile(machine: Machine, system: string): Promise<number | null>;
  /**
   * Points the profile at exactly `generation` again and deletes `created` (the generation lab
   * added, null if none), so that a failed system does not stay in the boot menu.
   */
  restoreProfile(machine: Machine, generation: number, created: number | null): Promise<void>;
  /**
   * Runs the system's switch-to-configuration with the action outside lab's SSH session (a
   * transient systemd unit where systemd is PID 1, else a detached process), so that a dropped
   * connection does not stop it half-way. With an id it runs once per id: called again with the
   * same id (after a crash, or a dropped connection) it waits for that activation and reports its
   * outcome.
   */
  switchTo(machine: Machine, system: string, action: SwitchAction, id?: string): Promise<void>;
  checkHealth(machine: Machine): Promise<MachineHealth>;
  facts(machine: Machine): Promise<HostFacts>;
  /** Opens connections to the next step's machines in the background (see RebootHost.warm). */
  warm?(machines: readonly Machine[]): void;
  close(): Promise<void>;
}
