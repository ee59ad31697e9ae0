import { DateTime } from 'luxon';
import {
  currentOpening,
  describeWindow,
  type MaintenanceWindow,
  nextOpening,
  type WindowOccurrence,
} from '../domain/schedule/maintenance-window.js';

/** A machine's window as `lab sequence` and `/lab sequence` show it: open now, or when it opens next. */
export interface WindowView {
  readonly window: MaintenanceWindow;
  /** `sat,sun 23:00-05:00 Europe/Berlin`. */
  readonly description: string;
  /** Whether it is open at `now`. */
  readonly open: boolean;
  /** The opening `now` is in, else the next one. */
  readonly opening: WindowOccurrence;
}

/** The window's view at `now`. Pure. */
export function windowView(window: MaintenanceWindow, now: number): WindowView {
  const current = currentOpening(window, now);
  return {
    window,
    description: describeWindow(window),
    open: current !== null,
    opening: current ?? nextOpening(window, now),
  };
}

/** `5 h 20 min`, `3 d 2 h`, `40 s`: a duration for people. */
export function roughDuration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (ms < 60_000) return `${Math.max(0, Math.round(ms / 1000))} s`;
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days} d` : `${days} d ${hours % 24} h`;
}

/** A time in the window's zone: `Sat 3 Jan 23:00`. */
const local = (ms: number, zone: string) => DateTime.fromMillis(ms, { zone }).toFormat('ccc d LLL HH:mm');

/**
 * The terminal's words: `window sat,sun 23:00-05:00 Europe/Berlin: open now, closes Sun 4 Jan 05:00
 * (in 2 h)` or `…: opens Sat 10 Jan 23:00 (in 5 d 20 h)`.
 */
export function windowText(view: WindowView, now: number): string {
  const zone = view.window.timeZone;
  const when = view.open
    ? `open now, closes ${local(view.opening.closesAt, zone)} (in ${roughDuration(view.opening.closesAt - now)})`
    : `opens ${local(view.opening.opensAt, zone)} (in ${roughDuration(view.opening.opensAt - now)})`;
  return `window ${view.description}: ${when}`;
}

/** The `--json` form of a window view: additive fields of `lab sequence --json`. */
export const windowJson = (view: WindowView) => ({
  description: view.description,
  open: view.open,
  opensAt: new Date(view.opening.opensAt).toISOString(),
  closesAt: new Date(view.opening.closesAt).toISOString(),
});
