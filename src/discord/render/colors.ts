import type { RunStatus } from '../../orchestration/run-state.js';

export const COLOR = {
  info: 0x3b82f6,
  ok: 0x22c55e,
  failed: 0xef4444,
  /** A halted run that was aborted: a failure, ended on purpose. */
  aborted: 0xb91c1c,
  cancelled: 0x9ca3af,
  halted: 0xf97316,
  waiting: 0xeab308,
} as const;

export function statusColor(status: RunStatus, waiting: boolean): number {
  if (status === 'succeeded') return COLOR.ok;
  if (status === 'failed') return COLOR.failed;
  if (status === 'aborted') return COLOR.aborted;
  if (status === 'cancelled') return COLOR.cancelled;
  if (status === 'halted') return COLOR.halted;
  return waiting ? COLOR.waiting : COLOR.info;
}

/** Discord's limits for one embed: description and field values are cut to fit. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 2)} …`;
}

/** A Discord timestamp that every reader sees in their own time zone. */
export const when = (epochMs: number, style: 't' | 'T' | 'R' = 'T'): string =>
  `<t:${Math.floor(epochMs / 1000)}:${style}>`;

/** A duration as people say it: "1.2 s", "45 s", "12 min", "3.5 h". */
export function duration(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * A machine's reboot in the times that matter, the waits before it apart: how long it was down,
 * how long from the reboot command until it was healthy. Empty when neither is known.
 */
export function rebootTimes(times: { downMs?: number | null; healthyMs?: number | null }): string {
  const parts: string[] = [];
  if (times.downMs !== null && times.downMs !== undefined) parts.push(`down ${duration(times.downMs)}`);
  if (times.healthyMs !== null && times.healthyMs !== undefined)
    parts.push(`healthy ${duration(times.healthyMs)} after the reboot command`);
  return parts.join(', ');
}
