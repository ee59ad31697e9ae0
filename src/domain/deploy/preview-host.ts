import type { Machine } from '../inventory/schema.js';
import type { MachineSystems } from './deploy-host.js';

/**
 * What a change preview needs from a machine: nothing that changes what it runs. Copying a closure
 * only adds paths to the machine's store; the others only read. The SSH implementation is
 * SshDeployHost; each method fails with a PreviewStepError (machine, step, reason).
 */
export interface PreviewHost {
  /** What the machine runs (/run/current-system) and booted. */
  systems(machine: Machine): Promise<MachineSystems>;
  /** Copies the system's closure into the machine's store. */
  copy(machine: Machine, system: string): Promise<void>;
  /** `nix store diff-closures from to`, run on the machine: its output. */
  diffClosures(machine: Machine, from: string, to: string): Promise<string>;
  /** Each path's closure size on the machine, in bytes. */
  closureSizes(machine: Machine, paths: readonly string[]): Promise<Map<string, number>>;
  /** `<system>/bin/switch-to-configuration dry-activate`, run on the machine: its output. */
  dryActivate(machine: Machine, system: string): Promise<string>;
}
