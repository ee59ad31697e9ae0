import { LabError } from '../../errors.js';

/** The machine did not come back with a new boot id before the deadline. */
export class RebootTimeoutError extends LabError {
  constructor(
    readonly machine: string,
    readonly seconds: number,
    readonly lastSeen: 'down' | 'old boot',
  ) {
    super(
      lastSeen === 'down'
        ? `${machine} did not come back within ${seconds} s of the reboot command (SSH never answered again)`
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
