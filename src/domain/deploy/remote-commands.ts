import { commandLine } from '../../transport/ssh/shell.js';

/**
 * The command lines a deploy runs on a machine. Pure: unit tested with exact strings. Store
 * paths come from nix, but are quoted all the same.
 */

export const SYSTEM_PROFILE = '/nix/var/nix/profiles/system';

/** What runs now and what the profile boots: two lines, the second empty without a profile. */
export const READ_SYSTEMS_COMMAND = `readlink -f /run/current-system; readlink -f ${SYSTEM_PROFILE} || true`;

export type ActivationAction = 'switch' | 'boot' | 'test' | 'dry-activate';

/** Runs a system's switch-to-configuration. */
export const switchCommand = (system: string, action: ActivationAction): string =>
  commandLine(`${system}/bin/switch-to-configuration`, action);

/** Makes the system the profile's new generation (what the machine boots next). */
export const setProfileCommand = (system: string): string =>
  commandLine('nix-env', '-p', SYSTEM_PROFILE, '--set', system);

/** Returns the profile to the generation before the one lab added. */
export const rollbackProfileCommand = (): string =>
  commandLine('nix-env', '-p', SYSTEM_PROFILE, '--rollback');

/** `nix-env --set` then switch-to-configuration, stopping at the first failure. */
export const commitCommand = (system: string, action: 'switch' | 'boot' = 'switch'): string =>
  `${setProfileCommand(system)} && ${switchCommand(system, action)}`;

/** Builds a system on the machine itself from its derivation (--build-on-target). */
export const realiseCommand = (drvPath: string): string => commandLine('nix-store', '--realise', drvPath);

export function parseSystems(output: string): { current: string | null; profile: string | null } {
  const [current = '', profile = ''] = output.split('\n').map((line) => line.trim());
  return { current: current || null, profile: profile || null };
}
