import type { MachineHealth } from '../health/check-result.js';
import type { HostFacts } from '../hosts/host-facts.js';
import type { Machine } from '../inventory/schema.js';

/** What runs on a machine now, and what its profile boots. */
export interface MachineSystems {
  readonly current: string | null;
  readonly profile: string | null;
}

/** What a deploy needs from a machine; the SSH implementation is ./ssh-deploy-host.ts. */
export interface DeployHost {
  systems(machine: Machine): Promise<MachineSystems>;
  /** Copies the system's closure into the machine's store. */
  copy(machine: Machine, system: string): Promise<void>;
  /** Adds the system as the profile's new generation (what the machine boots next). */
  setProfile(machine: Machine, system: string): Promise<void>;
  /** Returns the profile to the generation before. */
  rollbackProfile(machine: Machine): Promise<void>;
  /**
   * Runs the system's switch-to-configuration with the action, detached from lab's connection
   * (a dropped connection does not stop it half-way). With an id it runs once per id: called
   * again with the same id (after a crash) it waits for that activation and reports its outcome.
   */
  switchTo(machine: Machine, system: string, action: 'switch' | 'test', id?: string): Promise<void>;
  checkHealth(machine: Machine): Promise<MachineHealth>;
  facts(machine: Machine): Promise<HostFacts>;
  close(): Promise<void>;
}
