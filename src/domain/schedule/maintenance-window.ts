import { DateTime, IANAZone } from 'luxon';

/**
 * Maintenance windows: when a machine's reboot or activation may start. Pure arithmetic over
 * local times in the window's time zone (luxon's IANA zones, so daylight saving time is right):
 * days of the week are the days a window opens on; a window whose end is not after its start
 * runs across midnight into the next day.
 */

export const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof weekdays)[number];

export interface MaintenanceWindow {
  /** The days the window opens on (in its time zone); it may close on the next day. */
  readonly days: readonly Weekday[];
  /** Local opening time, `HH:MM` (24 h; `HH:MM:SS` is read too). */
  readonly start: string;
  /** Local closing time, `HH:MM` (or `HH:MM:SS`); not after `start`: the window closes on the next day. */
  readonly end: string;
  /** IANA time zone, e.g. `Europe/Berlin`. */
  readonly timeZone: string;
}

/** One opening of a window: from when to when (epoch ms). */
export interface WindowOccurrence {
  readonly opensAt: number;
  readonly closesAt: number;
}

/** `HH:MM`, or `HH:MM:SS` for a window to the second (tests, short windows). */
export const TIME_PATTERN = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/;

/** What is wrong with a window, field by field (empty when nothing is). */
export function windowProblems(
  window: MaintenanceWindow,
): { field: keyof MaintenanceWindow; message: string }[] {
  const problems: { field: keyof MaintenanceWindow; message: string }[] = [];
  if (window.days.length === 0) problems.push({ field: 'days', message: 'names no day' });
  for (const day of window.days)
    if (!weekdays.includes(day))
      problems.push({ field: 'days', message: `'${day}' is not one of ${weekdays.join(', ')}` });
  for (const field of ['start', 'end'] as const)
    if (!TIME_PATTERN.test(window[field]))
      problems.push({ field, message: `'${window[field]}' is not a time HH:MM (00:00 to 23:59)` });
  if (window.start === window.end && TIME_PATTERN.test(window.start))
    problems.push({ field: 'end', message: `equals start (${window.start}): the window would be empty` });
  if (!IANAZone.isValidZone(window.timeZone))
    problems.push({
      field: 'timeZone',
      message: `'${window.timeZone}' is not an IANA time zone (e.g. Europe/Berlin, UTC)`,
    });
  return problems;
}

const timeOfDay = (time: string): [number, number, number] => {
  const [, hour, minute, second] = TIME_PATTERN.exec(time) ?? [];
  return [Number(hour), Number(minute), Number(second ?? 0)];
};

/** The window's openings around `now`: from the day before to eight days after (in its zone). */
function occurrencesAround(window: MaintenanceWindow, now: number): WindowOccurrence[] {
  const zone = window.timeZone;
  const [startHour, startMinute, startSecond] = timeOfDay(window.start);
  const [endHour, endMinute, endSecond] = timeOfDay(window.end);
  const acrossMidnight =
    endHour * 3600 + endMinute * 60 + endSecond <= startHour * 3600 + startMinute * 60 + startSecond;
  const today = DateTime.fromMillis(now, { zone }).startOf('day');
  const result: WindowOccurrence[] = [];
  for (let offset = -1; offset <= 8; offset += 1) {
    const day = today.plus({ days: offset });
    if (!window.days.includes(weekdays[day.weekday - 1] as Weekday)) continue;
    // A local time in a DST gap (e.g. 02:30 on the night clocks go forward) is taken as the
    // same wall-clock time after the jump, as luxon (and cron) do.
    const opens = DateTime.fromObject(
      {
        year: day.year,
        month: day.month,
        day: day.day,
        hour: startHour,
        minute: startMinute,
        second: startSecond,
      },
      { zone },
    );
    const closingDay = acrossMidnight ? day.plus({ days: 1 }) : day;
    const closes = DateTime.fromObject(
      {
        year: closingDay.year,
        month: closingDay.month,
        day: closingDay.day,
        hour: endHour,
        minute: endMinute,
        second: endSecond,
      },
      { zone },
    );
    result.push({ opensAt: opens.toMillis(), closesAt: closes.toMillis() });
  }
  return result;
}

/** The opening `now` is in, or null when the window is closed. */
export function currentOpening(window: MaintenanceWindow, now: number): WindowOccurrence | null {
  return occurrencesAround(window, now).find((o) => o.opensAt <= now && now < o.closesAt) ?? null;
}

/** Whether `now` is inside the window. */
export const isInside = (window: MaintenanceWindow, now: number): boolean =>
  currentOpening(window, now) !== null;

/** The next opening that starts after `now` (the current one, if open, is not it). */
export function nextOpening(window: MaintenanceWindow, now: number): WindowOccurrence {
  const next = occurrencesAround(window, now).find((o) => o.opensAt > now);
  // Some day of the next eight opens: a window names at least one day.
  if (!next) throw new Error('the window names no day');
  return next;
}

/** When the current opening closes; null when the window is closed. */
export const closesAt = (window: MaintenanceWindow, now: number): number | null =>
  currentOpening(window, now)?.closesAt ?? null;

/** Whether a step started at `now` and taking `durationMs` ends before the window closes. */
export function canFinish(window: MaintenanceWindow, now: number, durationMs: number): boolean {
  const open = currentOpening(window, now);
  return open !== null && now + durationMs <= open.closesAt;
}

/** What a machine's step should do about its window. */
export type WindowDecision =
  /** Start now: inside the window with time enough (or no window). */
  | { readonly kind: 'start'; readonly closesAt: number | null }
  /** Wait until `until` (the opening in which it fits), then decide again. */
  | { readonly kind: 'wait'; readonly until: number; readonly closesAt: number; readonly reason: string }
  /** It can never fit: every opening is shorter than the step. */
  | { readonly kind: 'never'; readonly reason: string };

/**
 * The decision for a step of `durationMs` (how long the machine is expected to take: its reboot
 * and health timeouts, say) at `now`: start now if it fits in the current opening, else wait for
 * the first opening it fits in. A step that fits in no opening (within the next week) is refused.
 * `window` null: no window, start now.
 */
export function windowDecision(
  window: MaintenanceWindow | null,
  now: number,
  durationMs: number,
): WindowDecision {
  if (window === null) return { kind: 'start', closesAt: null };
  const open = currentOpening(window, now);
  if (open && now + durationMs <= open.closesAt) return { kind: 'start', closesAt: open.closesAt };
  const fitting = occurrencesAround(window, now).find(
    (o) => o.opensAt > now && o.closesAt - o.opensAt >= durationMs,
  );
  const need = `${Math.ceil(durationMs / 60_000)} min`;
  if (!fitting)
    return {
      kind: 'never',
      reason: `no opening of its window (${describeWindow(window)}) is long enough for ${need}`,
    };
  return {
    kind: 'wait',
    until: fitting.opensAt,
    closesAt: fitting.closesAt,
    reason: open
      ? `its window (${describeWindow(window)}) closes before ${need} are over`
      : `outside its window (${describeWindow(window)})`,
  };
}

/** `mon-fri 01:00-05:00 Europe/Berlin`: the window as LAB_MAINTENANCE_WINDOW writes it. */
export function describeWindow(window: MaintenanceWindow): string {
  return `${describeDays(window.days)} ${window.start}-${window.end} ${window.timeZone}`;
}

/** `daily`, `mon-fri`, `sat,sun`, `mon,wed-fri`: runs of consecutive days joined by dashes. */
function describeDays(days: readonly Weekday[]): string {
  const indexes = [...new Set(days.map((day) => weekdays.indexOf(day)))].sort((a, b) => a - b);
  if (indexes.length === 7) return 'daily';
  const runs: string[] = [];
  for (let i = 0; i < indexes.length; ) {
    let j = i;
    while (j + 1 < indexes.length && (indexes[j + 1] as number) === (indexes[j] as number) + 1) j += 1;
    const first = weekdays[indexes[i] as number];
    const last = weekdays[indexes[j] as number];
    runs.push(j - i >= 2 ? `${first}-${last}` : j === i ? `${first}` : `${first},${last}`);
    i = j + 1;
  }
  return runs.join(',');
}

/**
 * Parses the LAB_MAINTENANCE_WINDOW form, `[DAYS] HH:MM-HH:MM [TIME_ZONE]`: DAYS a comma list of
 * days and ranges (`mon-fri`, `sat,sun`, `mon,wed-fri`) or `daily` (the default); TIME_ZONE an
 * IANA zone (default UTC). Throws an Error saying what is wrong (the caller names the variable).
 */
export function parseWindow(text: string): MaintenanceWindow {
  const parts = text.trim().split(/\s+/);
  const timeAt = parts.findIndex((part) => /^\d{1,2}:\d{2}(:\d{2})?-\d{1,2}:\d{2}(:\d{2})?$/.test(part));
  if (timeAt < 0 || timeAt > 1 || parts.length > timeAt + 2)
    throw new Error(
      `'${text}' is not [days] HH:MM-HH:MM [time zone], e.g. 'mon-fri 01:00-05:00 Europe/Berlin'`,
    );
  const [start = '', end = ''] = (parts[timeAt] as string).split('-');
  const window: MaintenanceWindow = {
    days: timeAt === 1 ? parseDays(parts[0] as string) : [...weekdays],
    start,
    end,
    timeZone: parts[timeAt + 1] ?? 'UTC',
  };
  const problems = windowProblems(window);
  if (problems.length > 0) throw new Error(problems.map((p) => `${p.field} ${p.message}`).join('; '));
  return window;
}

function parseDays(text: string): Weekday[] {
  if (text === 'daily' || text === '*') return [...weekdays];
  const days = new Set<Weekday>();
  for (const part of text.toLowerCase().split(',')) {
    const [from, to] = part.split('-') as [string, string | undefined];
    const a = weekdays.indexOf(from as Weekday);
    const b = to === undefined ? a : weekdays.indexOf(to as Weekday);
    if (a < 0 || b < 0) throw new Error(`days: '${part}' is not a day or range of ${weekdays.join(', ')}`);
    // A range may wrap around the week: fri-mon is fri, sat, sun, mon.
    for (let i = a; ; i = (i + 1) % 7) {
      days.add(weekdays[i] as Weekday);
      if (i === b) break;
    }
  }
  return weekdays.filter((day) => days.has(day));
}
