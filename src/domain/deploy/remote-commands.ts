import { commandLine, quote } from '../../transport/ssh/shell.js';

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

/** Where detached commands keep their output and exit status: /run is a tmpfs, a reboot clears it. */
export const DETACHED_DIR = '/run/lab/detached';

/**
 * Runs a command (an activation) on the machine detached from the SSH session, and waits for it.
 * switch-to-configuration reports progress as it goes: run in the session, it dies half-way
 * (SIGPIPE) when lab's connection drops, e.g. a worker killed mid-activation, leaving the
 * machine half-activated. Detached (setsid, output to a file) it always finishes. And it runs
 * once per id: the same command line again — a worker resuming the run — waits for that run
 * and reports its output and exit status instead of starting a second one. Directories older
 * than a day are removed.
 */
export function detachedCommand(id: string, command: string, under = DETACHED_DIR): string {
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(id)) throw new Error(`invalid id for a detached command: ${id}`);
  const base = quote(under);
  const dir = `${base}/${id}`;
  // The command in a subshell of its own: all its output is kept, and an `exit` in it ends only it.
  const job = `echo $$ >"$1/pid"; (\n${command}\n) >"$1/output" 2>&1; echo $? >"$1/status.new"; mv "$1/status.new" "$1/status"`;
  return [
    `mkdir -p ${base}`,
    `find ${base} -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf {} + 2>/dev/null`,
    `if mkdir ${dir} 2>/dev/null; then setsid sh -c ${quote(job)} sh ${dir} </dev/null >/dev/null 2>&1 & fi`,
    `while [ ! -e ${dir}/status ]; do`,
    `  if [ -s ${dir}/pid ] && ! kill -0 "$(cat ${dir}/pid)" 2>/dev/null && [ ! -e ${dir}/status ]; then`,
    `    echo 'lab: the detached command ended without an exit status' >&2; exit 255`,
    '  fi',
    '  sleep 0.2',
    'done',
    `cat ${dir}/output >&2`,
    `exit "$(cat ${dir}/status)"`,
  ].join('\n');
}

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
