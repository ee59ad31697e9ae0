import type { MachineOutcome } from './run-events.js';

/**
 * What happened to one machine in a run, in time (epoch ms): the waits before it was touched
 * (its rebootDelay, the approval, its maintenance window), then down, back, healthy. Built from a
 * run's state by run-timeline.ts; rendered as text (terminal, Discord thread) and as a PNG.
 */
export interface MachineTimeline {
  readonly machine: string;
  readonly outcome: MachineOutcome;
  /** When the run started on the machine. */
  readonly startedAt: number | null;
  /** What it waited for before it was touched, in order. */
  readonly waits: readonly TimelineWait[];
  /** When the reboot command was sent (or the activation started). */
  readonly actionAt: number | null;
  /** When it was first seen down, and when it answered again with a new boot. */
  readonly downAt: number | null;
  readonly backAt: number | null;
  /** When its health checks were green. */
  readonly healthyAt: number | null;
  /** When the run was done with it. */
  readonly finishedAt: number | null;
}

export type WaitKind = 'delay' | 'approval' | 'window';

export interface TimelineWait {
  readonly kind: WaitKind;
  readonly from: number;
  readonly to: number;
}

/** The pieces a timeline is drawn of. */
export type SegmentKind = WaitKind | 'going-down' | 'down' | 'checks';

export interface TimelineSegment {
  readonly kind: SegmentKind;
  readonly from: number;
  readonly to: number;
}

/**
 * A timeline's segments in order: each wait, then from the command until it was seen down, down
 * until back, and back until healthy. A piece whose ends are unknown is left out; nothing is
 * made up.
 */
export function timelineSegments(timeline: MachineTimeline): TimelineSegment[] {
  const segments: TimelineSegment[] = timeline.waits
    .filter((wait) => wait.to >= wait.from)
    .map((wait) => ({ kind: wait.kind, from: wait.from, to: wait.to }));
  const { actionAt, downAt, backAt, healthyAt } = timeline;
  const add = (kind: SegmentKind, from: number | null, to: number | null) => {
    if (from !== null && to !== null && to >= from) segments.push({ kind, from, to });
  };
  add('going-down', actionAt, downAt);
  add('down', downAt, backAt);
  add('checks', backAt ?? (downAt === null ? actionAt : null), healthyAt);
  return segments;
}

/** `2.7 s`, `1 min 4 s`, `1 h 2 min`: a duration as the run report shows it. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

/** `+1:05` (minutes:seconds, or h:mm:ss) since the run's start. */
export function offset(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `+${h}:${String(m).padStart(2, '0')}:${s}` : `+${m}:${s}`;
}

const WAIT_WORDS: Record<WaitKind, string> = { delay: 'delay', approval: 'approval', window: 'window' };

/** How long the machine took, from its start to when the run was done with it; null if unknown. */
export const timelineTotal = (timeline: MachineTimeline): number | null =>
  timeline.startedAt !== null && timeline.finishedAt !== null
    ? timeline.finishedAt - timeline.startedAt
    : null;

/**
 * The run report as text, one line per machine in run order: when it started (from the run's
 * start), what it waited for and how long, how long it was down, when it was back and healthy,
 * and its total; the machine that took longest is marked.
 *
 *   db   +0:03  waited delay 3.0 s, approval 1 min 2 s · down 2.7 s · back +1:09 · healthy +1:10 · 1 min 8 s (longest) · rebooted
 */
export function timelineText(timelines: readonly MachineTimeline[], runStartedAt: number): string[] {
  const width = Math.max(0, ...timelines.map((t) => t.machine.length));
  const totals = timelines.map(timelineTotal);
  const longest = totals.reduce<number>((max, total) => Math.max(max, total ?? 0), 0);
  return timelines.map((timeline, index) => {
    const parts: string[] = [];
    const waits = timeline.waits.map(
      (wait) => `${WAIT_WORDS[wait.kind]} ${formatDuration(wait.to - wait.from)}`,
    );
    if (waits.length > 0) parts.push(`waited ${waits.join(', ')}`);
    if (timeline.downAt !== null && timeline.backAt !== null)
      parts.push(`down ${formatDuration(timeline.backAt - timeline.downAt)}`);
    else if (timeline.actionAt !== null && timeline.downAt === null && timeline.outcome === 'rebooted')
      parts.push('not seen down');
    if (timeline.backAt !== null) parts.push(`back ${offset(timeline.backAt - runStartedAt)}`);
    if (timeline.healthyAt !== null) parts.push(`healthy ${offset(timeline.healthyAt - runStartedAt)}`);
    const total = totals[index] ?? null;
    if (total !== null)
      parts.push(
        `${formatDuration(total)}${total === longest && timelines.length > 1 && total > 0 ? ' (longest)' : ''}`,
      );
    parts.push(timeline.outcome);
    const start = timeline.startedAt === null ? '  —  ' : offset(timeline.startedAt - runStartedAt);
    return `${timeline.machine.padEnd(width)}  ${start.padStart(5)}  ${parts.join(' · ')}`;
  });
}
