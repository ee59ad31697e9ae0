import { describe, expect, it } from 'vitest';
import {
  canFinish,
  closesAt,
  currentOpening,
  describeWindow,
  isInside,
  type MaintenanceWindow,
  nextOpening,
  parseWindow,
  windowDecision,
  windowProblems,
} from '../../src/domain/schedule/maintenance-window.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const MIN = 60_000;

/** Friday nights in Berlin, across midnight: Fri 22:00 to Sat 02:00 local time. */
const fridayNight: MaintenanceWindow = {
  days: ['fri'],
  start: '22:00',
  end: '02:00',
  timeZone: 'Europe/Berlin',
};

describe('a window across midnight in a time zone (fixed clocks)', () => {
  it('is open after midnight on the day after the day it opens on', () => {
    // Sat 2026-01-03 00:30 in Berlin (CET, UTC+1) is 2026-01-02 23:30 UTC.
    const now = at('2026-01-02T23:30:00Z');
    expect(isInside(fridayNight, now)).toBe(true);
    expect(iso(closesAt(fridayNight, now))).toBe('2026-01-03T01:00:00.000Z');
    expect(currentOpening(fridayNight, now)).toEqual({
      opensAt: at('2026-01-02T21:00:00Z'),
      closesAt: at('2026-01-03T01:00:00Z'),
    });
    // The next opening is a week later.
    expect(iso(nextOpening(fridayNight, now).opensAt)).toBe('2026-01-09T21:00:00.000Z');
  });

  it('is closed before it opens, and on days it does not open on', () => {
    const fridayEvening = at('2026-01-02T20:00:00Z'); // Fri 21:00 in Berlin
    expect(isInside(fridayNight, fridayEvening)).toBe(false);
    expect(closesAt(fridayNight, fridayEvening)).toBeNull();
    expect(iso(nextOpening(fridayNight, fridayEvening).opensAt)).toBe('2026-01-02T21:00:00.000Z');
    const saturdayNight = at('2026-01-03T21:30:00Z'); // Sat 22:30 in Berlin: not a Friday
    expect(isInside(fridayNight, saturdayNight)).toBe(false);
    expect(iso(nextOpening(fridayNight, saturdayNight).opensAt)).toBe('2026-01-09T21:00:00.000Z');
    // It closes at 02:00 sharp: 02:00 itself is outside.
    expect(isInside(fridayNight, at('2026-01-03T01:00:00Z'))).toBe(false);
    expect(isInside(fridayNight, at('2026-01-03T00:59:59Z'))).toBe(true);
    // The same UTC instant is another local day elsewhere: in UTC the window is Fri 22:00-02:00 UTC.
    expect(isInside({ ...fridayNight, timeZone: 'UTC' }, at('2026-01-02T21:30:00Z'))).toBe(false);
  });

  it('a machine needing D can finish only if D fits before the window closes', () => {
    const now = at('2026-01-02T23:30:00Z'); // 00:30 local: 90 minutes left
    expect(canFinish(fridayNight, now, 90 * MIN)).toBe(true);
    expect(canFinish(fridayNight, now, 91 * MIN)).toBe(false);
    expect(canFinish(fridayNight, at('2026-01-02T20:00:00Z'), MIN)).toBe(false); // closed
  });
});

describe('windowDecision', () => {
  it('starts inside, waits outside until the opening, waits for the next opening when the rest is too short', () => {
    expect(windowDecision(null, at('2026-01-02T12:00:00Z'), 10 * MIN)).toEqual({
      kind: 'start',
      closesAt: null,
    });
    expect(windowDecision(fridayNight, at('2026-01-02T23:30:00Z'), 30 * MIN)).toEqual({
      kind: 'start',
      closesAt: at('2026-01-03T01:00:00Z'),
    });
    expect(windowDecision(fridayNight, at('2026-01-02T12:00:00Z'), 30 * MIN)).toEqual({
      kind: 'wait',
      until: at('2026-01-02T21:00:00Z'),
      closesAt: at('2026-01-03T01:00:00Z'),
      reason: 'outside its window (fri 22:00-02:00 Europe/Berlin)',
    });
    expect(windowDecision(fridayNight, at('2026-01-03T00:30:00Z'), 60 * MIN)).toEqual({
      kind: 'wait',
      until: at('2026-01-09T21:00:00Z'),
      closesAt: at('2026-01-10T01:00:00Z'),
      reason: 'its window (fri 22:00-02:00 Europe/Berlin) closes before 60 min are over',
    });
  });

  it('refuses a step longer than every opening', () => {
    expect(windowDecision(fridayNight, at('2026-01-02T12:00:00Z'), 5 * 60 * MIN)).toEqual({
      kind: 'never',
      reason: 'no opening of its window (fri 22:00-02:00 Europe/Berlin) is long enough for 300 min',
    });
  });
});

describe('daylight saving time', () => {
  const saturdayNight: MaintenanceWindow = {
    days: ['sat'],
    start: '23:00',
    end: '04:00',
    timeZone: 'Europe/Berlin',
  };

  it('the night clocks go forward is an hour shorter, the night they go back an hour longer', () => {
    // 2026-03-29 02:00 CET → 03:00 CEST; 2026-10-25 03:00 CEST → 02:00 CET.
    const spring = currentOpening(saturdayNight, at('2026-03-28T23:00:00Z'));
    expect(spring).toEqual({ opensAt: at('2026-03-28T22:00:00Z'), closesAt: at('2026-03-29T02:00:00Z') });
    const autumn = currentOpening(saturdayNight, at('2026-10-24T23:00:00Z'));
    expect(autumn).toEqual({ opensAt: at('2026-10-24T21:00:00Z'), closesAt: at('2026-10-25T03:00:00Z') });
    // A start that falls in the spring gap opens at the same wall-clock time after the jump.
    const gap: MaintenanceWindow = { days: ['sun'], start: '02:30', end: '04:00', timeZone: 'Europe/Berlin' };
    expect(iso(nextOpening(gap, at('2026-03-28T12:00:00Z')).opensAt)).toBe('2026-03-29T01:30:00.000Z');
  });
});

describe('parseWindow (LAB_MAINTENANCE_WINDOW)', () => {
  it('reads days, times and a zone; days default to daily, the zone to UTC', () => {
    expect(parseWindow('mon-fri 01:00-05:00 Europe/Berlin')).toEqual({
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      start: '01:00',
      end: '05:00',
      timeZone: 'Europe/Berlin',
    });
    expect(parseWindow('22:00-02:00')).toEqual({
      days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
      start: '22:00',
      end: '02:00',
      timeZone: 'UTC',
    });
    expect(parseWindow('fri-mon 01:00-02:00').days).toEqual(['mon', 'fri', 'sat', 'sun']);
    expect(parseWindow('sat,sun,wed 01:00-02:00 America/New_York').days).toEqual(['wed', 'sat', 'sun']);
  });

  it('reads times to the second (a short window, a test), opening and closing on that second', () => {
    const window = parseWindow('01:00:30-01:00:45 Europe/Berlin');
    expect(window).toMatchObject({ start: '01:00:30', end: '01:00:45' });
    // 01:00:30 in Berlin in winter is 00:00:30 UTC.
    expect(isInside(window, at('2026-01-05T00:00:29.999Z'))).toBe(false);
    expect(currentOpening(window, at('2026-01-05T00:00:30Z'))).toEqual({
      opensAt: at('2026-01-05T00:00:30Z'),
      closesAt: at('2026-01-05T00:00:45Z'),
    });
    expect(isInside(window, at('2026-01-05T00:00:45Z'))).toBe(false);
    expect(() => parseWindow('01:00:60-02:00')).toThrow("start '01:00:60' is not a time HH:MM");
  });

  it('says what is wrong', () => {
    expect(() => parseWindow('at night')).toThrow(
      "'at night' is not [days] HH:MM-HH:MM [time zone], e.g. 'mon-fri 01:00-05:00 Europe/Berlin'",
    );
    expect(() => parseWindow('someday 01:00-02:00')).toThrow("days: 'someday' is not a day or range");
    expect(() => parseWindow('mon 25:00-02:00')).toThrow("start '25:00' is not a time HH:MM");
    expect(() => parseWindow('mon 01:00-01:00')).toThrow(
      'end equals start (01:00): the window would be empty',
    );
    expect(() => parseWindow('mon 01:00-02:00 Mars/Olympus')).toThrow(
      "timeZone 'Mars/Olympus' is not an IANA time zone",
    );
  });

  it('describeWindow writes it back the same way', () => {
    for (const text of [
      'mon-fri 01:00-05:00 Europe/Berlin',
      'daily 22:00-02:00 UTC',
      'mon,wed 01:00-02:00 UTC',
    ])
      expect(describeWindow(parseWindow(text))).toBe(text);
    expect(windowProblems(fridayNight)).toEqual([]);
    expect(windowProblems({ ...fridayNight, days: [] })).toEqual([
      { field: 'days', message: 'names no day' },
    ]);
  });
});
