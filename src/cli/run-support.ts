import type { Machine } from '../domain/inventory/schema.js';
import { UsageError } from '../errors.js';
import type { RunEventListener } from '../orchestration/run-events.js';
import { RunCancelled } from '../orchestration/run-flow.js';
import { unknownVariables } from '../util/known-variables.js';
import type { Context, Output } from './commands/shared.js';
import { createLogger, type Logger, logSettings } from './logger.js';
import type { Io } from './program.js';
import { TerminalPrompt } from './prompt.js';
import { runEventLine } from './render/run-events.js';

/** A prompt on the terminal, or null when nobody can answer (no TTY). */
export function terminalPrompt(io: Io): TerminalPrompt | null {
  return io.stdin && io.stdinIsTTY ? new TerminalPrompt(io.stdin, io.stderr) : null;
}

/** Refuses up front, touching nothing, when machines need a confirmation nobody can give. */
export function requireConfirmable(machines: readonly Machine[], prompt: TerminalPrompt | null): void {
  if (machines.length > 0 && !prompt) {
    const list = machines.map((machine) => `${machine.name} (${machine.criticalityLevel})`).join(', ');
    throw new UsageError(`${list} need a confirmation: run on a terminal, or pass --yes`);
  }
}

/** Prints run events: one readable line each, or one JSON document per line. */
export function eventPrinter(output: Output, json: boolean, machines: readonly Machine[]): RunEventListener {
  const width = Math.max(8, ...machines.map((machine) => machine.name.length));
  return (event) => {
    if (json) output.jsonLine(event);
    else {
      const line = runEventLine(event, output.style, width);
      if (line !== null) output.lines([line]);
    }
  };
}

/**
 * Runs `task` with an abort signal that Ctrl-C fires: the first cancels the run (nothing new
 * starts; a machine already rebooting or activating is seen to the end), a second quits at once.
 */
export async function withInterrupt<T>(io: Io, task: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const interrupt = () => {
    if (controller.signal.aborted) process.exit(130);
    io.stderr.write(
      '\nlab: stopping after the current phase; a machine already rebooting or activating is seen ' +
        'back healthy first (Ctrl-C again to quit at once)\n',
    );
    controller.abort(new RunCancelled('Ctrl-C at the terminal'));
  };
  process.on('SIGINT', interrupt);
  try {
    return await task(controller.signal);
  } finally {
    process.off('SIGINT', interrupt);
  }
}

/** Exit code of a finished run: 0 succeeded, 130 cancelled, 1 failed or aborted. */
export const runExitCode = (status: string): number =>
  status === 'succeeded' ? 0 : status === 'cancelled' ? 130 : 1;

/**
 * Resolves at the first SIGTERM or SIGINT (a long-running service's stop); a second one quits at
 * once. The listener stays while the service stops: without one, a signal's default (or execa's
 * clean-up of a running nix, which re-raises the signal when nobody else listens) would kill the
 * process in the middle of stopping.
 */
export function untilStopSignal(log: Logger, what = 'stopping'): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, `${signal} again: quitting without waiting`);
        process.exit(130);
      }
      stopping = true;
      log.info({ signal }, `${signal}: ${what}`);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

/**
 * The logger of a long-running process (LOG_LEVEL, LOG_FORMAT), on stderr. An error nothing
 * caught is logged as fatal before the process exits 1, so it reaches the same log as the rest.
 */
export function serviceLogger(name: string, { env, io }: Context): Logger {
  const log = createLogger(name, logSettings(env, io.stderr), io.stderr, env);
  for (const { name: variable, suggestion } of unknownVariables(env)) {
    log.warn(
      { variable },
      `unknown variable ${variable} is ignored${suggestion ? ` (did you mean ${suggestion}?)` : ''}`,
    );
  }
  if (io.stderr === process.stderr) {
    const fatal = (error: unknown) => {
      log.fatal({ err: error }, `unexpected error: ${(error as Error)?.message ?? error}`);
      process.exit(1);
    };
    process.on('uncaughtException', fatal);
    process.on('unhandledRejection', fatal);
  }
  return log;
}
