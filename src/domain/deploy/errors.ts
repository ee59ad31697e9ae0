import { LabError } from '../../errors.js';

/** Building the configurations failed: nothing was copied or activated anywhere. */
export class BuildError extends LabError {
  constructor(reason: string) {
    super(`build failed, no machine was touched: ${reason}`);
  }
}

/** Copying the closure to the machine failed: its running system is unchanged. */
export class CopyError extends LabError {
  constructor(
    readonly machine: string,
    reason: string,
  ) {
    super(`copying the new system to ${machine} failed (nothing was activated there): ${reason}`);
  }
}

/** switch-to-configuration (or setting the profile) failed on the machine. */
export class ActivationError extends LabError {
  constructor(
    readonly machine: string,
    action: string,
    reason: string,
  ) {
    super(`activating the new system on ${machine} (${action}) failed: ${reason}`);
  }
}
