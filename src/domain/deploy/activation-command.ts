import { commandLine, quote } from '../../transport/ssh/shell.js';
import { type ActivationAction, switchCommand } from './remote-commands.js';

/** Where commands run once per id keep their output and exit status: /run is a tmpfs, a reboot clears it. */
export const DETACHED_DIR = '/run/lab/detached';

/** The transient unit an activation runs in where systemd is PID 1: named by the activation's id. */
export const activationUnit = (id: string): string => `lab-activation-${id}`;

/**
 * systemd-run as nixos-rebuild runs switch-to-configuration: a transient service of PID 1 with the
 * environment nixos-rebuild passes (LOCALE_ARCHIVE from the caller, no boot loader reinstall), its
 * stdio piped to the caller, waited for, and collected even when it failed.
 */
export const systemdRun = (unit: string): string =>
  commandLine(
    'systemd-run',
    '-E',
    'LOCALE_ARCHIVE',
    '-E',
    'NIXOS_INSTALL_BOOTLOADER=',
    '--collect',
    '--no-ask-password',
    '--pipe',
    '--quiet',
    '--service-type=exec',
    `--unit=${unit}`,
    '--wait',
  );

/**
 * Runs a system's switch-to-configuration once per activation id, outside the SSH session, and
 * waits for it. Where systemd is PID 1 (`/run/systemd/system` exists, as sd_booted() checks) it
 * runs in a transient unit ({@link systemdRun}, named by the id): the session's cgroup — stopped
 * when the session ends, e.g. when the activation restarts sshd or the connection drops — does not
 * hold it. Elsewhere it runs detached (setsid). Either way a second caller with the same id — a
 * worker resuming the run, or lab again after its connection dropped — waits for that activation
 * and gets its output and exit status instead of starting another.
 */
export function activationCommand(
  id: string,
  system: string,
  action: ActivationAction,
  under = DETACHED_DIR,
): string {
  return onceCommand(id, switchCommand(system, action), under, activationUnit(id));
}

/**
 * Runs a command on the machine detached from the SSH session (setsid, output to a file), and
 * waits for it. switch-to-configuration reports progress as it goes: run in the session, it dies
 * half-way (SIGPIPE) when lab's connection drops, e.g. a worker killed mid-activation, leaving the
 * machine half-activated. And it runs once per id, as {@link activationCommand} does.
 */
export function detachedCommand(id: string, command: string, under = DETACHED_DIR): string {
  return onceCommand(id, command, under, null);
}

/**
 * The command once per id: the first caller creates `<under>/<id>` and starts it; every caller
 * waits for its exit status there. With a unit name it runs under systemd-run where systemd is
 * PID 1. Directories older than a day are removed.
 */
function onceCommand(id: string, command: string, under: string, unit: string | null): string {
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(id)) throw new Error(`invalid id for a detached command: ${id}`);
  const base = quote(under);
  const dir = `${base}/${id}`;
  // The command in a subshell of its own: all its output is kept, and an `exit` in it ends only it.
  const job = `echo $$ >"$1/pid"; (\n${command}\n) </dev/null >"$1/output" 2>&1; echo $? >"$1/status.new"; mv "$1/status.new" "$1/status"`;
  const detached = `setsid sh -c ${quote(job)} sh ${dir} </dev/null >/dev/null 2>&1 &`;
  const launch =
    unit === null
      ? [`if mkdir ${dir} 2>/dev/null; then ${detached} fi`]
      : [
          `if mkdir ${dir} 2>/dev/null; then`,
          '  if [ -d /run/systemd/system ]; then',
          `    ${systemdRun(unit)} sh -c ${quote(job)} sh ${dir} </dev/null`,
          `    if [ ! -e ${dir}/status ]; then`,
          `      echo 'lab: systemd-run gave no exit status of the activation (unit ${unit})' >${dir}/output`,
          `      echo 255 >${dir}/status`,
          '    fi',
          '  else',
          `    ${detached}`,
          '  fi',
          'fi',
        ];
  return [
    `mkdir -p ${base}`,
    `find ${base} -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf {} + 2>/dev/null`,
    ...launch,
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
