import { pino } from 'pino';
import type { Logger } from '../../src/cli/logger.js';

/** A real pino logger whose entries land in `entries` (parsed), for asserting on what was logged. */
export interface MemoryLogger {
  log: Logger;
  entries: Record<string, unknown>[];
  messages: () => string[];
}

/** A MemoryLogger at level debug. */
export function memoryLogger(): MemoryLogger {
  const entries: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    {
      write(line: string) {
        entries.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  return { log, entries, messages: () => entries.map((entry) => String(entry.msg)) };
}

/** The entries of a process's JSON log (its stderr); a line that is not JSON fails the test. */
export function jsonLogEntries(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
    });
}
