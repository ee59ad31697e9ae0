import { commandLine } from '../../transport/ssh/shell.js';

/** The exit status of a guarded reboot command that found another boot than the one expected. */
export const BOOT_ID_CHANGED_EXIT = 97;
const BOOT_ID_CHANGED_MESSAGE = 'lab: the boot id changed; reboot command not sent';

/**
 * The reboot command, sent only if the machine still runs the boot lab read before (its boot id
 * on standard input): lab may read a machine's boot id ahead of its turn, and says "rebooting
 * <boot id>" only of the boot the command reached. A fixed `sh` script; the command's words are
 * its arguments, quoted, so nothing is pasted into the script.
 */
export function guardedRebootCommand(command: readonly string[]): string {
  const script = [
    'read -r expected',
    `[ "$(cat /proc/sys/kernel/random/boot_id)" = "$expected" ] || { echo '${BOOT_ID_CHANGED_MESSAGE}' >&2; exit ${BOOT_ID_CHANGED_EXIT}; }`,
    'exec "$@"',
  ].join('\n');
  return commandLine('sh', '-c', script, 'lab-reboot', ...command);
}

/** Whether a guarded reboot command's result says the machine runs another boot (nothing sent). */
export function bootIdChanged(result: { exitCode: number | null; stderr: string }): boolean {
  return result.exitCode === BOOT_ID_CHANGED_EXIT && result.stderr.includes(BOOT_ID_CHANGED_MESSAGE);
}
