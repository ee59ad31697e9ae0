import type { RunEvent } from '../../src/orchestration/run-events.js';

/** The events of a `lab reboot --json` run, one JSON document per line. */
export function parseEvents(stdout: string): RunEvent[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as RunEvent);
}

export function eventsOf<T extends RunEvent['type']>(
  events: RunEvent[],
  type: T,
): Extract<RunEvent, { type: T }>[] {
  return events.filter((event): event is Extract<RunEvent, { type: T }> => event.type === type);
}
