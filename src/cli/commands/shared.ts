import type { Command } from 'commander';
import type { SkippedHost } from '../../domain/planner/plan.js';
import { UsageError } from '../../errors.js';
import type { Io } from '../program.js';
import type { Style } from '../render/style.js';

/** Where commands write; the CLI's only contact with stdout. */
export interface Output {
  readonly style: Style;
  lines(lines: readonly string[]): void;
  json(value: unknown): void;
  /** One compact JSON document per line (for event streams). */
  jsonLine(value: unknown): void;
}

/** What a command gets from the process it runs in. */
export interface Context {
  readonly output: Output;
  readonly env: NodeJS.ProcessEnv;
  readonly io: Io;
  /** The exit code when the command finishes without an error (e.g. 1 for unhealthy machines). */
  setExitCode(code: number): void;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** --flake, --nix, --nix-option, --no-cache: every command that reads the flake has them. */
export function withFlakeOptions(command: Command): Command {
  return command
    .option('-f, --flake <flake>', 'flake with nixosConfigurations (default: $LAB_FLAKE or .)')
    .option('--nix <path>', 'nix binary (default: $LAB_NIX or nix)')
    .option('--nix-option <name=value>', 'extra nix option, repeatable (e.g. substituters=)', collect)
    .option('--no-cache', 'evaluate the flake even if the cached result is current');
}

export interface SshOptions {
  sshKey?: string;
  knownHosts?: string;
}

/** --ssh-key, --known-hosts: every command that connects to machines has them. */
export function withSshOptions(command: Command): Command {
  return command
    .option('-i, --ssh-key <file>', 'private key (default: $LAB_SSH_KEY, else ssh-agent, else ~/.ssh/id_*)')
    .option('--known-hosts <file>', 'known_hosts file (default: $LAB_KNOWN_HOSTS or ~/.ssh/known_hosts)');
}

export interface SkipBrokenOptions {
  skipBroken?: boolean;
}

/** --skip-broken: every command that plans all machines or a group. */
export function withSkipBrokenOption(command: Command): Command {
  return command.option(
    '--skip-broken',
    'go on without the hosts whose lab.machine could not be read, listed as skipped (else a plan of all or of a group that would leave one out is refused)',
  );
}

export interface WindowOptions {
  inWindow?: boolean;
  forceWindow?: boolean;
}

/** --in-window / --force-window: reboots and deploys. */
export function withWindowOptions(command: Command): Command {
  return command
    .option(
      '--in-window',
      "start each machine's reboot or activation only inside its maintenance window (its own, else LAB_MAINTENANCE_WINDOW), when it can finish before the window closes; a machine outside waits for it",
    )
    .option(
      '--force-window',
      'start every machine now, whatever its maintenance window (as scheduled runs do not)',
    );
}

/** The window part of a run request from the options; both at once is a usage error. */
export function windowRequest(options: WindowOptions): { inWindow: boolean; forceWindow: boolean } {
  if (options.inWindow && options.forceWindow)
    throw new UsageError('--in-window and --force-window contradict each other: choose one');
  return { inWindow: options.inWindow === true, forceWindow: options.forceWindow === true };
}

/**
 * Tells, on stderr, which hosts a plan goes on without: for output that does not show the plan
 * (events, JSON of other things, `--lines`).
 */
export function reportSkipped(context: Pick<Context, 'io'>, skipped: readonly SkippedHost[]): void {
  if (skipped.length === 0) return;
  context.io.stderr.write(
    `lab: going on without ${skipped.length === 1 ? 'a host' : `${skipped.length} hosts`} that could not be read (--skip-broken):\n` +
      skipped.map((host) => `  ${host.name}: ${host.reason}\n`).join(''),
  );
}
