import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli/program.js';
import type { Homelab } from '../sim/homelab.js';

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Reboot deadlines well inside a test's own: a machine that does not come back fails the run. */
export const TEST_REBOOT_DEADLINES = ['--reboot-timeout', '30', '--health-timeout', '20'] as const;

/** Runs the CLI in-process with captured, non-TTY output streams. */
export async function runLab(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  stdout.on('data', (chunk: Buffer) => chunks.stdout.push(chunk));
  stderr.on('data', (chunk: Buffer) => chunks.stderr.push(chunk));
  const exitCode = await runCli(args, {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stderr: stderr as unknown as NodeJS.WriteStream,
    env: { LAB_NO_CACHE: '1', ...env },
  });
  return {
    exitCode,
    stdout: Buffer.concat(chunks.stdout).toString('utf8'),
    stderr: Buffer.concat(chunks.stderr).toString('utf8'),
  };
}

/**
 * `lab <command> --flake <the homelab's flake> --nix-option substituters= <args>` in-process, with
 * the homelab's SSH key and known hosts (lab.env) and `env`.
 */
export function runLabOn(
  lab: Homelab,
  command: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  return runLab([command, '--flake', lab.flake, '--nix-option', 'substituters=', ...args], {
    ...lab.env,
    ...env,
  });
}
