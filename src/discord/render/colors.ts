import type { APIEmbed } from 'discord.js';
import { rebootTimesText, spokenDuration } from '../../orchestration/run-event-text.js';
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
export const duration = spokenDuration;

/**
 * A machine's reboot in the times that matter, the waits before it apart: how long it was down,
 * how long from the reboot command until it was healthy. Empty when neither is known.
 */
export const rebootTimes = (times: { downMs?: number | null; healthyMs?: number | null }): string =>
  rebootTimesText(times, duration);

/** What Discord counts of an embed against the 6000 characters of a message's embeds. */
export function embedLength(embed: APIEmbed): number {
  const fields = (embed.fields ?? []).reduce((sum, field) => sum + field.name.length + field.value.length, 0);
  return (
    (embed.title?.length ?? 0) +
    (embed.description?.length ?? 0) +
    (embed.footer?.text.length ?? 0) +
    (embed.author?.name.length ?? 0) +
    fields
  );
}
