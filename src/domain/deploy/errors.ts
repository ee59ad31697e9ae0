import { LabError } from '../../errors.js';

/**
 * Building the configurations failed: nothing was copied or activated anywhere. `failures` names
 * each machine whose system did not build, with why; `built` the machines whose systems did.
 * Both are empty when nix failed before anything could be told apart (the reason says why).
 */
export class BuildError extends LabError {
  constructor(
    readonly reason: string,
    readonly failures: ReadonlyMap<string, string> = new Map(),
    readonly built: readonly string[] = [],
  ) {
    super(`build failed, no machine was touched: ${reason}`);
  }

  /**
   * The error for machines whose systems did not build (machines failing for the same reason,
   * e.g. a dependency they share, are named together), and the machines whose systems built.
   */
  static ofMachines(failures: ReadonlyMap<string, string>, built: readonly string[]): BuildError {
    const byReason = new Map<string, string[]>();
    for (const [machine, reason] of failures)
      byReason.set(reason, [...(byReason.get(reason) ?? []), machine]);
    const failed = [...byReason].map(([reason, machines]) =>
      machines.length === 1
        ? `the system of ${machines[0]} did not build: ${reason}`
        : `the systems of ${machines.join(', ')} did not build: ${reason}`,
    );
    const fine = built.length > 0 ? [`built fine: ${built.join(', ')}`] : [];
    return new BuildError([...failed, ...fine].join('; '), failures, built);
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

/** One step of a change preview failed on a machine: nothing was activated there. */
export class PreviewStepError extends LabError {
  constructor(
    readonly machine: string,
    readonly step: string,
    readonly reason: string,
  ) {
    super(`previewing the changes on ${machine} (${step}) failed: ${reason}`);
  }
}
