import { eventText, type TextFormat } from '../../orchestration/run-event-text.js';
import type { RunEvent } from '../../orchestration/run-events.js';
import { duration, when } from './colors.js';

/** A time every reader sees in their own zone, and how long ago or ahead it is. */
const deadline = (iso: string) => `${when(Date.parse(iso), 'T')} (${when(Date.parse(iso), 'R')})`;

/** Discord's durations and timestamps; the failed machine in bold; a side remark after a dot. */
const THREAD_FORMAT: TextFormat = {
  duration,
  time: deadline,
  machine: (name) => `**${name}**`,
  aside: (text) => ` · ${text}`,
  layout: 'sentence',
};

const FINISHED_ICON = { succeeded: '✅', cancelled: '⏹️', failed: '❌', aborted: '⛔' } as const;

function icon(event: RunEvent): string | null {
  switch (event.type) {
    case 'machine.waiting':
      return event.reason === 'approval' ? '🔐' : '⏳';
    case 'machine.rebooting':
    case 'machine.activating':
      return '🔄';
    case 'machine.health':
      return '🩺';
    case 'machine.succeeded':
      return '✅';
    case 'machine.failed':
      return '❌';
    case 'machine.skipped':
      return '⏭️';
    case 'machine.power':
      return event.ok ? '🔌' : '❌';
    case 'machine.copying':
      return '📦';
    case 'machine.rolling-back':
      return '↩️';
    case 'machine.rolled-back':
      return event.ok ? '↩️' : '❌';
    case 'run.halted':
      return '🚨';
    case 'run.cancelling':
      return '⏹️';
    case 'run.finished':
      return FINISHED_ICON[event.status] ?? '⛔';
    default:
      return null;
  }
}

/** Left out of the thread: the run message shows them well enough by itself. */
function shownByTheMessage(event: RunEvent): boolean {
  // The run message numbers the steps (a resumed run starts its step again) and shows the waits.
  return (
    event.type === 'step.started' ||
    event.type === 'deploy.building' ||
    (event.type === 'machine.waiting' && event.reason === 'delay')
  );
}

/**
 * The line a run's thread gets for an event: when it happened (a Discord timestamp, shown in
 * each reader's zone), then the words of `eventText`. What to do is a button on the run message
 * or the alert, never a terminal command. Null for events the run message shows well enough by
 * itself (steps, builds starting, rebootDelay waits).
 */
export function threadLine(event: RunEvent): string | null {
  if (shownByTheMessage(event)) return null;
  const words = eventText(event, THREAD_FORMAT);
  if (words === null) return null;
  const subject = words.about === 'machine' ? THREAD_FORMAT.machine(words.subject) : words.subject;
  const decide = event.type === 'run.halted' ? `; decide on the alert by ${deadline(event.expiresAt)}` : '';
  const mark = icon(event);
  return `${when(Date.parse(event.at), 'T')} ${mark ? `${mark} ` : ''}${subject} ${words.text}${decide}`;
}
