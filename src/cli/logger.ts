import { type DestinationStream, type Logger, pino } from 'pino';
import { z } from 'zod';
import { ConfigurationError } from '../errors.js';
import { envProblem } from '../util/env-problem.js';
import { type Style, styleFor } from './render/style.js';

export type { Logger } from 'pino';

/** What the long-running processes (`lab worker`, `lab serve`, `lab bot`) log, and how. */
export interface LogSettings {
  readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /** `json`: one JSON object a line (for journald, Docker, log shippers); `pretty`: for people. */
  readonly format: 'json' | 'pretty';
}

const envSchema = z.object({
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
});

/** LOG_LEVEL (default info) and LOG_FORMAT (default: pretty on a terminal, JSON otherwise). */
export function logSettings(env: NodeJS.ProcessEnv, stream: NodeJS.WriteStream): LogSettings {
  const parsed = envSchema.safeParse({
    LOG_LEVEL: env.LOG_LEVEL || undefined,
    LOG_FORMAT: env.LOG_FORMAT || undefined,
  });
  if (!parsed.success) {
    throw new ConfigurationError(`invalid environment: ${parsed.error.issues.map(envProblem).join('; ')}`);
  }
  return {
    level: parsed.data.LOG_LEVEL,
    format: parsed.data.LOG_FORMAT ?? (stream.isTTY ? 'pretty' : 'json'),
  };
}

/**
 * Fields that hold secrets, wherever they appear in a log line's objects. lab never logs its
 * configuration, but an error from a library might carry a request's headers.
 */
const redactedPaths = [
  'token',
  'password',
  'passphrase',
  'authorization',
  '*.token',
  '*.password',
  '*.passphrase',
  '*.authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
];

/** The logger of a long-running process; `name` is the process (`lab serve`). */
export function createLogger(
  name: string,
  settings: LogSettings,
  stream: NodeJS.WriteStream,
  env: NodeJS.ProcessEnv = {},
): Logger {
  const destination: DestinationStream =
    settings.format === 'json' ? stream : prettyDestination(stream, styleFor(stream, env));
  return pino(
    {
      name,
      level: settings.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: redactedPaths, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

const levelStyle: Record<string, keyof Style | null> = {
  trace: 'dim',
  debug: 'dim',
  info: null,
  warn: 'yellow',
  error: 'red',
  fatal: 'red',
};

const shownApart = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'err']);

/**
 * One readable line per entry: `14:03:07.412 WARN  lab serve: message key=value`, and an
 * error's message (its stack for errors and at debug level) on the lines after.
 */
export function prettyLine(entry: Record<string, unknown>, style: Style): string {
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const level = String(entry.level ?? 'info');
  const tone = levelStyle[level];
  const label = level.toUpperCase().padEnd(5);
  const fields = Object.entries(entry)
    .filter(([key]) => !shownApart.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  let line = `${style.dim(time)} ${tone ? style[tone](label) : label} ${entry.name ? `${entry.name}: ` : ''}${String(entry.msg ?? '')}`;
  if (fields.length > 0) line += ` ${style.dim(fields.join(' '))}`;
  const error = entry.err as { message?: string; stack?: string } | undefined;
  if (error) {
    const detailed = level !== 'info' && level !== 'warn';
    const text = (detailed ? error.stack : error.message) ?? error.message ?? '';
    line += `\n  ${text.replace(/\n/g, '\n  ')}`;
  }
  return `${line}\n`;
}

function prettyDestination(stream: NodeJS.WriteStream, style: Style): DestinationStream {
  return {
    write(chunk: string) {
      for (const text of chunk.split('\n')) {
        if (text === '') continue;
        try {
          stream.write(prettyLine(JSON.parse(text) as Record<string, unknown>, style));
        } catch {
          stream.write(`${text}\n`);
        }
      }
    },
  };
}
