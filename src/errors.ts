/**
 * Every failure lab reports is a LabError subclass: one class per kind of failure, a one-line
 * human message that says what happened and (where useful) what to do, and the exit code the
 * CLI uses for it. Adapters print `message`; they never print a stack trace unless asked to.
 */

export const ExitCode = {
  ok: 0,
  failure: 1,
  invalidConfiguration: 2,
  usage: 64,
} as const;

export interface LabErrorOptions extends ErrorOptions {
  /**
   * What only whoever runs lab can act on (an environment variable, a command-line option or
   * command), appended to the message as it is, punctuation included. The terminal and the logs
   * show it; chat users, who can neither change lab's settings nor run its commands, are shown
   * `publicMessage`.
   */
  readonly operatorHint?: string;
}

export abstract class LabError extends Error {
  /** Exit code of the `lab` CLI when this error ends a command. */
  readonly exitCode: number = ExitCode.failure;
  readonly operatorHint: string | undefined;
  /** The message without the operator's hint: what Discord shows. */
  readonly publicMessage: string;

  constructor(message: string, options?: LabErrorOptions) {
    super(options?.operatorHint ? `${message}${options.operatorHint}` : message, options);
    this.name = new.target.name;
    this.operatorHint = options?.operatorHint;
    this.publicMessage = message;
  }
}

/** The command line itself is wrong (unknown option value, missing argument). */
export class UsageError extends LabError {
  override readonly exitCode: number = ExitCode.usage;
}

/**
 * The homelab's configuration is invalid: a bad `lab.machine` value, a dependency on an unknown
 * machine, a cycle. The message names the machines and fields involved.
 */
export class ConfigurationError extends LabError {
  override readonly exitCode: number = ExitCode.invalidConfiguration;
}

/** Several configuration problems found at once; each is a line of the message. */
export class ConfigurationErrors extends ConfigurationError {
  constructor(readonly problems: readonly string[]) {
    super(
      problems.length === 1
        ? (problems[0] ?? 'invalid configuration')
        : `${problems.length} configuration problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}

/** A target given on the command line or in Discord matches no machine or group. */
export class UnknownTargetError extends LabError {
  override readonly exitCode: number = ExitCode.usage;
}

/** The `nix` binary could not be started. */
export class NixNotFoundError extends LabError {}

/**
 * nix refuses every build: its `build-users-group` setting names a group that does not exist on
 * this machine (nix run as root without nix-daemon, e.g. Debian's nix-bin on its own, defaults to
 * `nixbld`). The message says what to put in nix.conf instead of passing nix's line on.
 */
export class NixBuildUsersGroupError extends LabError {
  constructor(
    readonly group: string,
    readonly configFile = '/etc/nix/nix.conf',
  ) {
    super(
      `nix refuses to build on this machine: its build-users-group setting names the group '${group}', which does not exist here. ` +
        `For nix run as root without nix-daemon, put the line 'build-users-group =' in ${configFile} (lab's scripts/setup does this); ` +
        `to build as build users instead (a multi-user install, with nix-daemon), create the group '${group}' with build users as its members (nixbld1, nixbld2, …), as nix's installer does`,
    );
  }
}

/** The flake reference does not point at a flake nix can read. */
export class FlakeNotFoundError extends LabError {}

/** `nix eval` failed for the flake as a whole (not for a single host). */
export class NixEvalError extends LabError {}

/** Redis (the queue) cannot be reached. */
export class RedisUnreachableError extends LabError {}

/** No run has the id given. */
export class RunNotFoundError extends LabError {
  override readonly exitCode: number = ExitCode.usage;
}

/** A run state in Redis that this version cannot read (another version wrote it, or it is damaged). */
export class UnknownRunStateError extends LabError {
  constructor(what: string) {
    super(`lab cannot read ${what}: was it written by a newer version of lab?`);
  }
}

/** A run would touch a machine that another active run holds. */
export class MachineBusyError extends LabError {
  constructor(
    readonly machine: string,
    readonly heldBy: { readonly runId: string; readonly requestedBy: string; readonly kind: string },
  ) {
    super(
      `${machine} is busy: ${heldBy.kind} run ${heldBy.runId} started by ${heldBy.requestedBy} holds it`,
      {
        operatorHint: ` (lab status ${heldBy.runId}; lab cancel ${heldBy.runId})`,
      },
    );
  }
}

/** An approval, denial or decision that the run does not accept (wrong step, self-approval, …). */
export class RunControlError extends LabError {
  override readonly exitCode: number = ExitCode.usage;
}

/** Discord refused the bot (its token, its access to a guild) or cannot be reached. */
export class DiscordError extends LabError {}

/** A queued job failed in a worker (e.g. evaluating the flake); the message is the worker's. */
export class WorkerJobError extends LabError {}

/** No silence has the id given (or it has expired already). */
export class SilenceNotFoundError extends LabError {
  override readonly exitCode: number = ExitCode.usage;
}
