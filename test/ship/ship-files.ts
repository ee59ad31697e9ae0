/**
 * Readers for the files that ship lab as a container: docker-compose.yml, .env.example, the
 * Dockerfile and .dockerignore. No Docker engine is needed: each file is parsed the way Docker
 * and Compose parse it, closely enough for the checks in this directory.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { parse } from 'yaml';

export const ROOT = new URL('../..', import.meta.url).pathname;

export function readText(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

// ---- docker-compose.yml ----------------------------------------------------------------------

export type ComposeFile = Record<string, unknown> & {
  services: Record<string, Record<string, unknown>>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { file?: string }>;
};

/** The compose file as Compose sees it before interpolation: YAML with merge keys (`<<`). */
export function readCompose(text = readText('docker-compose.yml')): ComposeFile {
  return parse(text, { merge: true, strict: true, uniqueKeys: true }) as ComposeFile;
}

/**
 * `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `$NAME`… in the compose file's keys and values
 * (where Compose interpolates; comments are not read). `$$` is a literal `$`.
 */
export function composeInterpolations(compose: unknown): { name: string; fallback: string | undefined }[] {
  const found: { name: string; fallback: string | undefined }[] = [];
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      const text = value.replaceAll('$$', '');
      for (const match of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+]([^}]*))?\}/g)) {
        found.push({ name: match[1] as string, fallback: match[2] });
      }
      for (const match of text.matchAll(/\$([A-Za-z_][A-Za-z0-9_]*)/g)) {
        found.push({ name: match[1] as string, fallback: undefined });
      }
    } else if (Array.isArray(value)) {
      value.forEach(visit);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        visit(key);
        visit(item);
      }
    }
  };
  visit(compose);
  return found;
}

/** A service's environment as a map (Compose accepts a map or a list of NAME=value). */
export function serviceEnvironment(service: Record<string, unknown>): Record<string, string> {
  const environment = service.environment;
  if (Array.isArray(environment)) {
    return Object.fromEntries(
      environment.map((item: string) => {
        const separator = item.indexOf('=');
        return [item.slice(0, separator), item.slice(separator + 1)];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries((environment ?? {}) as Record<string, unknown>).map(([name, value]) => [
      name,
      String(value),
    ]),
  );
}

export interface ServiceVolume {
  readonly type: string;
  readonly source: string | undefined;
  readonly target: string;
  readonly readOnly: boolean;
}

/** A service's volumes in the long form, whichever syntax the file uses. */
export function serviceVolumes(service: Record<string, unknown>): ServiceVolume[] {
  return ((service.volumes ?? []) as unknown[]).map((volume) => {
    if (typeof volume === 'string') {
      const [source, target, mode] = volume.split(':');
      if (target === undefined)
        return { type: 'volume', source: undefined, target: source as string, readOnly: false };
      const named = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(source as string);
      return {
        type: named ? 'volume' : 'bind',
        source,
        target,
        readOnly: (mode ?? '').split(',').includes('ro'),
      };
    }
    const long = volume as { type: string; source?: string; target: string; read_only?: boolean };
    return { type: long.type, source: long.source, target: long.target, readOnly: long.read_only === true };
  });
}

/** The secrets a service mounts: name → path inside the container. */
export function serviceSecrets(service: Record<string, unknown>): Map<string, string> {
  const secrets = new Map<string, string>();
  for (const secret of (service.secrets ?? []) as unknown[]) {
    if (typeof secret === 'string') secrets.set(secret, `/run/secrets/${secret}`);
    else {
      const long = secret as { source: string; target?: string };
      const target = long.target ?? long.source;
      secrets.set(long.source, target.startsWith('/') ? target : `/run/secrets/${target}`);
    }
  }
  return secrets;
}

// ---- .env.example ----------------------------------------------------------------------------

export interface EnvEntry {
  readonly name: string;
  /** The value as Compose's env_file and Node's util.parseEnv read it. */
  readonly value: string;
  /** Set as written (`NAME=value`), rather than shown commented out (`# NAME=value`). */
  readonly active: boolean;
  /** The comment lines right above it, up to the previous entry or blank line. */
  readonly description: string;
  readonly line: number;
}

const ASSIGNMENT = /^([A-Z][A-Z0-9_]*)=(.*)$/;
const COMMENTED_ASSIGNMENT = /^#\s?([A-Z][A-Z0-9_]*)=(.*)$/;

/** Every variable of an .env file, set or commented out, with the comment that documents it. */
export function parseEnvExample(text: string): EnvEntry[] {
  const entries: EnvEntry[] = [];
  let description: string[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    const assignment = ASSIGNMENT.exec(line) ?? COMMENTED_ASSIGNMENT.exec(line);
    if (assignment) {
      const name = assignment[1] as string;
      const value = parseEnv(`${name}=${assignment[2]}`)[name] ?? '';
      entries.push({
        name,
        value,
        active: !line.startsWith('#'),
        description: description.join(' '),
        line: index + 1,
      });
      description = [];
    } else if (line.startsWith('#')) {
      description.push(line.replace(/^#\s?/, ''));
    } else if (line === '') {
      description = [];
    } else {
      throw new Error(`.env.example line ${index + 1} is neither a comment nor NAME=value: ${line}`);
    }
  });
  return entries;
}

/** `Default: X.` in a description: X (without a parenthesised remark), or undefined. */
export function documentedDefault(description: string): string | undefined {
  const match = /Default: (.*?)(?: \(|\.(?:\s|$)|$)/.exec(description);
  return match?.[1];
}

// ---- src/ ------------------------------------------------------------------------------------

/** Environment variables lab's own code is about, excluding those it sets for nix itself and the tests' own. */
const INTERNAL = new Set(['LAB_EVAL_HOST', 'LAB_EVAL_HOSTS', 'LAB_NIXPKGS_LIB']);

export function variablesReadBySource(): Map<string, string[]> {
  const read = new Map<string, string[]>();
  const dir = join(ROOT, 'src');
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts')) continue;
    const text = readFileSync(join(dir, file), 'utf8');
    for (const match of text.matchAll(
      /\b(LAB_[A-Z0-9_]+|DISCORD_[A-Z0-9_]+|REDIS_URL|LOG_LEVEL|LOG_FORMAT)\b/g,
    )) {
      const name = match[1] as string;
      // `LAB_APPROVALS_` alone is a prefix in a message, not a variable.
      if (name.endsWith('_') || INTERNAL.has(name)) continue;
      read.set(name, [...new Set([...(read.get(name) ?? []), `src/${file}`])]);
    }
  }
  return read;
}

// ---- Dockerfile ------------------------------------------------------------------------------

export interface Instruction {
  readonly keyword: string;
  /** The arguments as written, continuation lines joined. */
  readonly args: string;
  readonly line: number;
}

export interface Stage {
  readonly name: string | undefined;
  /** The base image, global ARGs substituted. */
  readonly base: string;
  readonly instructions: Instruction[];
}

/**
 * Instructions as BuildKit's parser reads them: comment lines dropped (also inside a
 * continuation), lines ending in a backslash joined to the next.
 */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending: { args: string[]; line: number } | null = null;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === null)) return;
    const continued = line.endsWith('\\');
    const body = continued ? line.slice(0, -1).trim() : line;
    if (pending === null) pending = { args: [], line: index + 1 };
    if (body !== '') pending.args.push(body);
    if (continued) return;
    const joined = pending.args.join(' ');
    const space = joined.search(/\s/);
    instructions.push({
      keyword: (space < 0 ? joined : joined.slice(0, space)).toUpperCase(),
      args: space < 0 ? '' : joined.slice(space + 1).trim(),
      line: pending.line,
    });
    pending = null;
  });
  if (pending) throw new Error('Dockerfile ends inside a continuation line');
  return instructions;
}

/** ARG name=default pairs of a list of instructions. */
export function argDefaults(instructions: readonly Instruction[]): Map<string, string> {
  const args = new Map<string, string>();
  for (const instruction of instructions) {
    if (instruction.keyword !== 'ARG') continue;
    const [name, value] = instruction.args.split('=', 2);
    if (name && value !== undefined) args.set(name.trim(), value.trim().replace(/^"(.*)"$/, '$1'));
  }
  return args;
}

/** `${NAME}` and `$NAME` replaced by the ARG defaults (what a build without --build-arg uses). */
export function substitute(text: string, args: ReadonlyMap<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, braced, bare) => {
    const value = args.get(braced ?? bare);
    return value ?? whole;
  });
}

export function dockerfileStages(instructions: readonly Instruction[]): Stage[] {
  const first = instructions.findIndex((instruction) => instruction.keyword === 'FROM');
  const globalArgs = argDefaults(instructions.slice(0, first));
  const stages: Stage[] = [];
  for (const instruction of instructions.slice(first)) {
    if (instruction.keyword === 'FROM') {
      const [image, as, name] = instruction.args.split(/\s+/);
      stages.push({
        name: as?.toUpperCase() === 'AS' ? name : undefined,
        base: substitute(image as string, globalArgs),
        instructions: [],
      });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

/** The words of an exec-form (`["a", "b"]`) or shell-form instruction. */
export function execForm(args: string): string[] {
  if (args.startsWith('[')) return JSON.parse(args) as string[];
  return ['/bin/sh', '-c', args];
}

export interface CopyInstruction {
  readonly from: string | undefined;
  readonly sources: string[];
  readonly destination: string;
}

export function copyInstruction(instruction: Instruction): CopyInstruction {
  const words = instruction.args.startsWith('[')
    ? (JSON.parse(instruction.args) as string[])
    : instruction.args.split(/\s+/);
  let from: string | undefined;
  const rest: string[] = [];
  for (const word of words) {
    if (word.startsWith('--from=')) from = word.slice('--from='.length);
    else if (!word.startsWith('--') || rest.length > 0) rest.push(word);
  }
  return { from, sources: rest.slice(0, -1), destination: rest.at(-1) as string };
}

// ---- .dockerignore ---------------------------------------------------------------------------

interface IgnorePattern {
  readonly exclusion: boolean;
  readonly regex: RegExp;
}

/**
 * Docker's .dockerignore semantics (moby/patternmatcher): patterns are relative to the context
 * root, `*` and `?` stop at `/`, `**` crosses directories, a pattern that matches a parent
 * directory matches everything in it, `!` re-includes, and the last matching pattern wins.
 */
export function dockerignore(text: string): (path: string) => boolean {
  const patterns: IgnorePattern[] = [];
  for (const raw of text.split('\n')) {
    let pattern = raw.trim();
    if (pattern === '' || pattern.startsWith('#')) continue;
    const exclusion = pattern.startsWith('!');
    if (exclusion) pattern = pattern.slice(1).trim();
    pattern = cleanPath(pattern);
    if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    patterns.push({ exclusion, regex: patternRegex(pattern) });
  }
  return (path: string) => {
    const file = cleanPath(path);
    const parents = file.includes('/') ? file.split('/').slice(0, -1) : [];
    let matched = false;
    for (const pattern of patterns) {
      if (pattern.exclusion !== matched) continue;
      let match = pattern.regex.test(file);
      for (let i = 1; !match && i <= parents.length; i++)
        match = pattern.regex.test(parents.slice(0, i).join('/'));
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  };
}

function cleanPath(path: string): string {
  const absolute = path.startsWith('/');
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && parts.length > 0 && parts.at(-1) !== '..') parts.pop();
    else if (part !== '..' || !absolute) parts.push(part);
  }
  const joined = parts.join('/');
  return absolute ? `/${joined}` : joined || '.';
}

function patternRegex(pattern: string): RegExp {
  let source = '^';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') i++;
        source += i + 1 >= pattern.length ? '.*' : '(.*/)?';
      } else {
        source += '[^/]*';
      }
    } else if (ch === '?') {
      source += '[^/]';
    } else if (ch === '\\' && i + 1 < pattern.length) {
      i++;
      source += `\\${pattern[i]}`;
    } else if ('.$+(){}|^'.includes(ch)) {
      source += `\\${ch}`;
    } else {
      source += ch;
    }
  }
  return new RegExp(`${source}$`);
}

/** Every file under a directory of the build context, relative to the context root. */
export function filesUnder(path: string): string[] {
  return readdirSync(join(ROOT, path), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(ROOT.length));
}
