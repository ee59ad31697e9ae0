import { Command, CommanderError } from 'commander';
import { LabError, UsageError } from '../errors.js';
import { deployCommand } from './commands/deploy.js';
import { discordCommands } from './commands/discord.js';
import { healthCommand } from './commands/health.js';
import { machinesCommand } from './commands/machines.js';
import { monitorCommands } from './commands/monitor.js';
import { powerCommand } from './commands/power.js';
import { rebootCommand } from './commands/reboot.js';
import { runCommands } from './commands/runs.js';
import { sequenceCommand } from './commands/sequence.js';
import type { Output } from './commands/shared.js';
import { workerCommands } from './commands/worker.js';
import { styleFor } from './render/style.js';
import { VERSION } from './version.js';

export interface Io {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly env: NodeJS.ProcessEnv;
  /** For confirmations; absent or not a TTY means nobody can answer. */
  readonly stdin?: NodeJS.ReadableStream;
  readonly stdinIsTTY?: boolean;
}

export function buildProgram(io: Io, setExitCode: (code: number) => void = () => {}): Command {
  const output: Output = {
    style: styleFor(io.stdout, io.env),
    lines: (lines) => io.stdout.write(lines.map((line) => `${line}\n`).join('')),
    json: (value) => io.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    jsonLine: (value) => io.stdout.write(`${JSON.stringify(value)}\n`),
  };
  const program = new Command('lab')
    .description('Orchestrate a NixOS homelab: ordered, health-gated reboots and deploys')
    .version(VERSION)
    .option('--debug', 'show stack traces of errors')
    .showHelpAfterError('(run lab --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  const context = { output, env: io.env, io, setExitCode };
  machinesCommand(program, context);
  sequenceCommand(program, context);
  healthCommand(program, context);
  rebootCommand(program, context);
  powerCommand(program, context);
  deployCommand(program, context);
  workerCommands(program, context);
  runCommands(program, context);
  monitorCommands(program, context);
  discordCommands(program, context);
  return program;
}

/** Runs the CLI and returns the exit code. The one error boundary of the terminal adapter. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has already printed its message (help, version, or what was wrong).
      return error.exitCode === 0 ? 0 : new UsageError('').exitCode;
    }
    const debug = argv.includes('--debug');
    if (error instanceof LabError) {
      io.stderr.write(`lab: ${error.message}\n`);
      if (debug && error.stack) io.stderr.write(`${error.stack}\n`);
      return error.exitCode;
    }
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`lab: unexpected error: ${message}${debug ? '' : ' (run with --debug for details)'}\n`);
    if (debug && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
    return 1;
  }
}
