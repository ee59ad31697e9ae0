import type { Machine } from '../inventory/schema.js';
import type { PowerCommandError, PowerEnvironmentError, PowerMethodName } from './errors.js';
import type { PowerAction } from './power-steps.js';

/** One step of a power action as it went: a command run, or a magic packet sent. */
export interface PowerStepResult {
  readonly method: PowerMethodName;
  /** The command as configured (`${NAME}`s not replaced, so no secret); null for Wake-on-LAN. */
  readonly argv: readonly string[] | null;
  /** Wake-on-LAN: the MAC and where the packet went (`52:54:00:12:34:56 via 192.168.1.255:9`). */
  readonly target: string | null;
  /** The command's exit code (null: killed, timed out, did not start; always null for Wake-on-LAN). */
  readonly exitCode: number | null;
  /** The end of its output (stdout and stderr), secrets from the environment file masked. */
  readonly output: string;
  readonly durationMs: number;
  readonly ok: boolean;
  /** Why it failed, null when ok. */
  readonly reason: string | null;
}

/** What a power action did, step by step. */
export interface PowerActionResult {
  readonly machine: string;
  readonly action: PowerAction;
  readonly ok: boolean;
  /** The steps carried out, in order; a failed step is the last. */
  readonly steps: readonly PowerStepResult[];
  /** The failure, null when ok. */
  readonly error: PowerCommandError | PowerEnvironmentError | null;
}

/**
 * Switches machines on, off or through a power cycle, and reads their power state, as their
 * `lab.machine.power` says (./local-power-control.ts does it from this host). A method the
 * machine lacks throws NoPowerControlError before anything is done; a failure while acting is in
 * the result (`ok: false`, `error`), with the steps that ran.
 */
export interface PowerControl {
  on(machine: Machine, options?: PowerActionOptions): Promise<PowerActionResult>;
  off(machine: Machine, options?: PowerActionOptions): Promise<PowerActionResult>;
  cycle(machine: Machine, options?: PowerActionOptions): Promise<PowerActionResult>;
  status(machine: Machine, options?: PowerActionOptions): Promise<PowerActionResult>;
}

export interface PowerActionOptions {
  readonly signal?: AbortSignal;
}

/** The PowerControl method of an action. */
export function powerAction(
  control: PowerControl,
  machine: Machine,
  action: PowerAction,
  options?: PowerActionOptions,
): Promise<PowerActionResult> {
  return control[action](machine, options);
}
