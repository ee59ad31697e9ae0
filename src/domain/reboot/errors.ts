import { LabError } from '../../errors.js';

/** The machine did not come back with a new boot id before the deadline. */
export class RebootTimeoutError extends LabError {
  constructor(
    readonly machine: string,
    readonly seconds: number,
    /**
     * What lab saw last: `down` (refused, unreachable, or silent for the full connect timeout),
     * its `old boot`, or `no answer`: its port stopped answering TCP connects, for `silentSeconds`,
     * too short a time to call it down.
     */
    readonly lastSeen: 'down' | 'old boot' | 'no answer',
    readonly silentSeconds: number | null = null,
  ) {
    super(
      lastSeen === 'down'
        ? `${machine} did not come back within ${seconds} s of the reboot command (SSH never answered again)`
        : lastSeen === 'no answer'
          ? `${machine} did not come back within ${seconds} s of the reboot command: its SSH port has not answered a TCP connect for the last ${silentSeconds ?? 0} s`
          : `${machine} did not reboot within ${seconds} s: it still answers with the boot id it had before`,
    );
  }
}

/** The reboot command itself failed (e.g. permission denied); the machine was not rebooted. */
export class RebootCommandError extends LabError {
  constructor(
    readonly machine: string,
    reason: string,
  ) {
    super(`the reboot command failed on ${machine}: ${reason}`);
  }
}

/**
 * The machine runs another boot than the one lab read before its turn (it rebooted meanwhile):
 * the guarded reboot command was not sent. lab reads the boot id again and sends it then.
 */
export class BootIdChangedError extends LabError {
  constructor(
    readonly machine: string,
    readonly expected: string,
  ) {
    super(`${machine} no longer runs boot ${expected}: the reboot command was not sent`);
  }
}
