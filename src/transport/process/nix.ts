import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { execa } from 'execa';
import { FlakeNotFoundError, NixBuildUsersGroupError, NixEvalError, NixNotFoundError } from '../../errors.js';

/** How lab runs nix: which binary, and extra `--option name value` pairs. */
export interface NixSettings {
  /** The nix binary; `LAB_NIX`, default `nix` from PATH. */
  readonly bin: string;
  /** Extra nix options, e.g. `{ substituters: '' }`, passed as `--option name value`. */
  readonly options: Readonly<Record<string, string>>;
}

/**
 * Flags every invocation gets. `--extra-experimental-features` keeps Nix 2.8 (Debian 12's
 * nix-bin) working; newer Nix accepts it as well.
 */
export const baseNixArgs = (settings: NixSettings): string[] => [
  '--extra-experimental-features',
  'nix-command flakes',
  ...Object.entries(settings.options).flatMap(([name, value]) => ['--option', name, value]),
];

export interface NixRunOptions {
  /** Environment variables added for this invocation (never interpolated into arguments). */
  readonly env?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

export interface NixFailure {
  readonly exitCode: number | undefined;
  /** nix's own error message: the `error:` lines without the source excerpt. */
  readonly message: string;
}

/** Runs nix with arguments as an array (no shell). Resolves stdout, or the failure and all of stderr. */
export async function runNix(
  settings: NixSettings,
  args: readonly string[],
  options: NixRunOptions = {},
): Promise<
  { ok: true; stdout: string; stderr: string } | { ok: false; failure: NixFailure; stderr: string }
> {
  let result: Awaited<ReturnType<typeof execa>>;
  try {
    result = await execa(settings.bin, [...baseNixArgs(settings), ...args], {
      reject: false,
      stdin: 'ignore',
      env: options.env ? { ...options.env } : undefined,
      cancelSignal: options.signal,
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch (error) {
    throw new NixNotFoundError(`cannot run nix (${settings.bin}): ${(error as Error).message}`, {
      operatorHint: '. Install Nix (Debian: apt-get install nix-bin) or set LAB_NIX to the nix binary.',
    });
  }
  if (result.failed && (result.code === 'ENOENT' || result.code === 'EACCES')) {
    throw await cannotStart(settings.bin);
  }
  const stderr = withoutBuildUsersGroupWarning(String(result.stderr));
  if (result.exitCode === 0) return { ok: true, stdout: String(result.stdout), stderr };
  const group = buildUsersGroupRefusal(stderr);
  if (group !== null) throw new NixBuildUsersGroupError(group, nixConfigFile(options.env));
  return { ok: false, failure: { exitCode: result.exitCode, message: nixErrorMessage(stderr) }, stderr };
}

/**
 * nix's line when the group that its `build-users-group` setting names does not exist: printed
 * as a warning by every nix run as root (opening the store), and as the error of every build.
 */
const MISSING_BUILD_USERS_GROUP = /the group '([^']*)' specified in 'build-users-group' does not exist/;

/** stderr without the warning nix prints on every call when build-users-group names no group. */
export function withoutBuildUsersGroupWarning(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => !(line.trim().startsWith('warning:') && MISSING_BUILD_USERS_GROUP.test(line)))
    .join('\n');
}

/** The group named if nix refused to build because its build-users-group does not exist, else null. */
export function buildUsersGroupRefusal(stderr: string): string | null {
  for (const line of stderr.split('\n')) {
    if (line.trim().startsWith('warning:')) continue;
    const match = MISSING_BUILD_USERS_GROUP.exec(line);
    if (match) return match[1] ?? '';
  }
  return null;
}

/** The nix.conf that nix reads first: `$NIX_CONF_DIR/nix.conf`, by default /etc/nix/nix.conf. */
function nixConfigFile(env: Readonly<Record<string, string>> | undefined): string {
  const dir = env?.NIX_CONF_DIR ?? process.env.NIX_CONF_DIR;
  return `${dir || '/etc/nix'}/nix.conf`;
}

/**
 * Why nix could not be started when spawning it failed with ENOENT or EACCES: the binary, or the
 * current directory that the child is started in (one this user may not enter, or one removed).
 */
async function cannotStart(bin: string): Promise<NixNotFoundError> {
  let cwd: string | null = null;
  try {
    cwd = process.cwd();
    await access(cwd, constants.X_OK);
  } catch {
    return new NixNotFoundError(
      cwd === null
        ? 'cannot run nix: the current directory no longer exists: run lab from another directory.'
        : `cannot run nix: the current directory ${cwd} is not accessible to this user (uid ${process.getuid?.() ?? '?'}): run lab from a directory it can enter.`,
    );
  }
  return new NixNotFoundError(`cannot run nix: '${bin}' was not found or is not executable`, {
    operatorHint: '. Install Nix (Debian: apt-get install nix-bin) or set LAB_NIX to the nix binary.',
  });
}

/** The version of the nix binary (`nix (Nix) 2.8.0` → [2, 8, 0]); null if it cannot be told. */
export async function nixVersion(settings: NixSettings): Promise<number[] | null> {
  const result = await execa(settings.bin, ['--version'], { reject: false, stdin: 'ignore' });
  return parseNixVersion(String(result.stdout ?? ''));
}

export function parseNixVersion(text: string): number[] | null {
  // The last version on the line is Nix's (`nix (Determinate Nix 3.8.2) 2.30.1`).
  const match = [...text.matchAll(/(\d+)\.(\d+)(?:\.(\d+))?/g)].at(-1);
  return match ? [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)] : null;
}

/**
 * `nix flake update` of a whole flake: Nix 2.19 made its positional arguments input names and
 * takes the flake with `--flake`; older versions take the flake itself.
 */
export function flakeUpdateArgs(version: readonly number[] | null, flake: string): string[] {
  const [major = 0, minor = 0] = version ?? [];
  const modern = major > 2 || (major === 2 && minor >= 19);
  return modern ? ['flake', 'update', '--flake', flake] : ['flake', 'update', flake];
}

/**
 * Extracts nix's error message from its stderr: from the last `error:` line on, without the
 * source excerpt (`at «string»:1:2:` and the numbered lines), warnings and trace hints.
 */
export function nixErrorMessage(stderr: string): string {
  const lines = stderr.split('\n');
  const start = lines.findIndex((line) => line.startsWith('error:'));
  const relevant = start === -1 ? lines : lines.slice(start);
  const kept: string[] = [];
  for (const raw of relevant) {
    const line = raw.trimEnd();
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith("(use '--show-trace'")) continue;
    if (/^at .*:\d+:\d+:$/.test(trimmed) || /^\d+\|/.test(trimmed) || /^\|/.test(trimmed)) continue;
    if (trimmed.startsWith('warning:')) continue;
    kept.push(trimmed.replace(/^error:\s*/, ''));
  }
  const message = kept.join(' ').replace(/\s+/g, ' ').trim();
  return message || withoutBuildUsersGroupWarning(stderr).trim() || 'nix failed without a message';
}

/** Maps a failure that concerns the flake as a whole to the error a user can act on. */
export function flakeFailure(flake: string, failure: NixFailure): FlakeNotFoundError | NixEvalError {
  const message = failure.message;
  if (
    /does not contain a 'flake\.nix'|could not find a flake\.nix|getting status of .*No such file/.test(
      message,
    )
  ) {
    if (/\/nix\/store\/[^/]+-source\/flake\.nix/.test(message)) {
      return new FlakeNotFoundError(
        `flake '${flake}' has a flake.nix that git does not track: run 'git add flake.nix' (nix only sees files git tracks).`,
      );
    }
    return new FlakeNotFoundError(`no flake at '${flake}'`, {
      operatorHint: ': pass --flake with a directory containing flake.nix (or set LAB_FLAKE).',
    });
  }
  if (/does not provide attribute .*nixosConfigurations/.test(message)) {
    return new FlakeNotFoundError(`flake '${flake}' has no nixosConfigurations output.`);
  }
  return new NixEvalError(`nix could not evaluate flake '${flake}': ${message}`);
}
