import { ConfigurationError, LabError } from '../../errors.js';

/** How a power action is carried out: one of the machine's argv commands, or a magic packet. */
export type PowerMethodName =
  | 'command on'
  | 'command off'
  | 'command cycle'
  | 'command status'
  | 'wake-on-lan';

/** The machine has no way configured to do what was asked (`lab.machine.power`). */
export class NoPowerControlError extends ConfigurationError {
  constructor(
    readonly machine: string,
    readonly action: string,
    needs: string,
  ) {
    super(`no power control to ${action} ${machine}: set ${needs}`);
  }
}

/** A power command failed (exit status, timeout, not found) or a magic packet could not be sent. */
export class PowerCommandError extends LabError {
  constructor(
    readonly machine: string,
    readonly method: PowerMethodName,
    readonly reason: string,
  ) {
    super(`power ${method} of ${machine} failed: ${reason}`);
  }
}

/** The power commands' environment file could not be read, or lacks a `${NAME}` an argument uses. */
export class PowerEnvironmentError extends LabError {
  constructor(
    readonly machine: string,
    reason: string,
  ) {
    super(`power control of ${machine}: ${reason}`);
  }
}
