import { execa } from 'execa';

/** How a local command ended: its exit status (or why it has none) and the end of its output. */
export interface ArgvResult {
  /** The exit code; null when it was killed, timed out or did not start. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  /** Why it did not start (e.g. `ENOENT`), else null. */
  readonly startError: string | null;
  /** The last OUTPUT_TAIL characters of stdout and stderr, interleaved as written. */
  readonly output: string;
  readonly durationMs: number;
}

/** Characters of a command's output that are kept. */
export const OUTPUT_TAIL = 2_000;

/**
 * Runs an argv list on this host without a shell: the program is looked up in PATH (or given as
 * a path), every argument is passed as it is. stdin is empty; `env` is added to lab's own
 * environment; the command is killed (SIGTERM, then SIGKILL after 5 s) after `timeoutMs`.
 * Never throws for the command's own failure: the result says how it ended.
 */
export async function runArgv(
  argv: readonly string[],
  options: { readonly timeoutMs: number; readonly env?: Readonly<Record<string, string>> },
): Promise<ArgvResult> {
  const [program, ...args] = argv;
  if (!program) throw new TypeError('runArgv: empty argv');
  const started = Date.now();
  const result = await execa(program, args, {
    shell: false,
    reject: false,
    all: true,
    stdin: 'ignore',
    timeout: options.timeoutMs,
    forceKillAfterDelay: 5_000,
    env: { ...options.env },
    extendEnv: true,
    maxBuffer: 1024 * 1024,
    stripFinalNewline: true,
  });
  const output = String(result.all ?? '');
  const notStarted = result.exitCode === undefined && !result.timedOut && !result.signal;
  return {
    exitCode: result.exitCode ?? null,
    signal: result.signal ?? null,
    timedOut: result.timedOut,
    startError: notStarted
      ? ((result as { code?: string }).code ?? result.shortMessage ?? 'not started')
      : null,
    output: output.length > OUTPUT_TAIL ? output.slice(-OUTPUT_TAIL) : output,
    durationMs: Date.now() - started,
  };
}
