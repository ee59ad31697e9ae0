import { eventText, type TextFormat, type Tone } from '../../orchestration/run-event-text.js';
import type { RunEvent } from '../../orchestration/run-events.js';
import type { Style } from './style.js';

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;
/** HH:MM:SS of an ISO time, in local time. */
const clock = (iso: string): string => new Date(iso).toTimeString().slice(0, 8);

/** The terminal's durations and times; a side remark in parentheses. */
const TERMINAL_FORMAT: TextFormat = {
  duration: seconds,
  time: clock,
  machine: (name) => name,
  aside: (text) => ` (${text})`,
  layout: 'columns',
};

const colour = (style: Style, tone: Tone): ((text: string) => string) =>
  ({ info: (text: string) => text, good: style.green, warn: style.yellow, bad: style.red, dim: style.dim })[
    tone
  ];

/** What to type next: the command that answers an approval request or a halt. */
function hint(event: RunEvent): string {
  if (event.type === 'machine.waiting' && event.reason === 'approval')
    return `: lab approve ${event.runId} ${event.machine}`;
  if (event.type === 'run.halted')
    return `; decide by ${clock(event.expiresAt)}: lab ${event.decisions.join('|')} ${event.runId}`;
  return '';
}

/**
 * One line per event, readable at a glance: elapsed time, who, what (the words of
 * `eventText`, the alarm in capitals), and the `lab` command to answer with. Returns null for
 * events that add nothing on a terminal.
 */
export function runEventLine(event: RunEvent, style: Style, width = 16): string | null {
  const words = eventText(event, TERMINAL_FORMAT);
  if (words === null) return null;
  const { alarm } = words;
  const text = alarm ? `${alarm.toUpperCase()}${words.text.slice(alarm.length)}` : words.text;
  const shown =
    words.about === 'step' ? style.bold(text) : colour(style, words.tone)(`${text}${hint(event)}`);
  return `${style.dim(seconds(event.elapsedMs).padStart(7))}  ${words.subject.padEnd(width)}  ${shown}`;
}
