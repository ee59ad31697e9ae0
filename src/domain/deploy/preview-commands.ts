import { commandLine } from '../../transport/ssh/shell.js';
import { switchCommand } from './remote-commands.js';

/**
 * The command lines a change preview runs on a machine, after the new system's closure was copied
 * there (which changes nothing that runs). Pure: unit tested with exact strings. Store paths come
 * from nix and from the machine, and are quoted all the same.
 */

/** nix's new CLI, whatever the machine's nix.conf enables (Nix ≥ 2.4 knows the flag). */
const NIX = ['nix', '--extra-experimental-features', 'nix-command'] as const;

/** What changes between two systems' closures: one line per package, as nix prints it. */
export const diffClosuresCommand = (from: string, to: string): string =>
  commandLine(...NIX, 'store', 'diff-closures', from, to);

/** The closure size of each path (JSON; its shape differs between nix versions, see parseClosureSizes). */
export const closureSizesCommand = (paths: readonly string[]): string =>
  commandLine(...NIX, 'path-info', '--json', '--closure-size', ...paths);

/**
 * What activating the system would do to the running one, without doing it: the units it would
 * stop, start, restart and reload (on stderr; joined to stdout here so that the lines keep their
 * order).
 */
export const dryActivateCommand = (system: string): string => `${switchCommand(system, 'dry-activate')} 2>&1`;
