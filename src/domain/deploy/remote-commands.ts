import { commandLine } from '../../transport/ssh/shell.js';

/**
 * The command lines a deploy runs on a machine. Pure: unit tested with exact strings. Store
 * paths come from nix, but are quoted all the same.
 */

export const SYSTEM_PROFILE = '/nix/var/nix/profiles/system';

export type ActivationAction = 'switch' | 'boot' | 'test' | 'dry-activate';

/** Runs a system's switch-to-configuration. */
export const switchCommand = (system: string, action: ActivationAction): string =>
  commandLine(`${system}/bin/switch-to-configuration`, action);

/**
 * Makes the system the profile's new generation (`nix-env --set` adds one above the highest),
 * then prints the generation's link, `system-N-link`: the number a rollback deletes.
 */
export const setProfileCommand = (system: string): string =>
  `${commandLine('nix-env', '-p', SYSTEM_PROFILE, '--set', system)} && ${commandLine('readlink', SYSTEM_PROFILE)}`;

/** Points the profile at exactly this generation (not "the one below", which `--rollback` picks). */
export const switchGenerationCommand = (generation: number): string =>
  commandLine('nix-env', '-p', SYSTEM_PROFILE, '--switch-generation', generationNumber(generation));

/** Deletes a generation (not the current one: nix-env refuses that); a missing one is no error. */
export const deleteGenerationCommand = (generation: number): string =>
  commandLine('nix-env', '-p', SYSTEM_PROFILE, '--delete-generations', generationNumber(generation));

/**
 * The profile back on the generation it was on before the deploy, and the generation lab added
 * removed (as deploy-rs does), so that a failed system is not left in the boot menu. Both steps can
 * run again: a resumed rollback repeats them harmlessly.
 */
export function restoreProfileCommand(generation: number, created: number | null): string {
  const back = switchGenerationCommand(generation);
  return created === null || created === generation ? back : `${back} && ${deleteGenerationCommand(created)}`;
}

/** Builds a system on the machine itself from its derivation (--build-on-target). */
export const realiseCommand = (drvPath: string): string => commandLine('nix-store', '--realise', drvPath);

function generationNumber(generation: number): string {
  if (!Number.isSafeInteger(generation) || generation < 1)
    throw new Error(`invalid profile generation: ${generation}`);
  return String(generation);
}
