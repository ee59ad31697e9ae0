import type { APIEmbed } from 'discord.js';
import { timelineText } from '../../orchestration/machine-timeline.js';
import type { RunJobData } from '../../orchestration/queue/run-request.js';
import { isRunDone } from '../../orchestration/run-state.js';
import { timelinesOfRun } from '../../orchestration/run-timeline.js';
import { timelinePng } from '../../orchestration/timeline-image.js';
import { LIMITS, type PreviewFile } from './change-preview.js';
import type { DiscordMessage } from './plan-message.js';

/** The name of the run report's picture, attached to the finished run message. */
export const TIMELINE_FILE = 'timeline.png';

/** What a finished run's message adds: the timeline as text, and its picture when it could be drawn. */
export interface RunReport {
  readonly lines: readonly string[];
  readonly png: Buffer | null;
}

/**
 * The report of a finished run (null while it runs): each machine's timeline as text and the PNG,
 * or only the text when the picture cannot be drawn (`onImageError` hears why).
 */
export async function runReport(
  data: RunJobData,
  onImageError?: (error: Error) => void,
): Promise<RunReport | null> {
  const { state } = data;
  if (!isRunDone(state.status) || state.startedAt === null) return null;
  const timelines = timelinesOfRun(state);
  const lines = timelineText(timelines, state.startedAt);
  const png = await timelinePng(timelines, state.startedAt).catch((error: Error) => {
    onImageError?.(error);
    return null;
  });
  return { lines, png };
}

/**
 * The run message with its report: a "Timeline" field (a code block, as many lines as fit in the
 * field and in the embed's 6000 characters) and the picture as the embed's image, attached as
 * `timeline.png`. The files to upload with the message are returned beside it; `attachments`
 * lists only the new picture, so an edit replaces an earlier one instead of adding another.
 */
export function withReport(
  message: DiscordMessage,
  report: RunReport | null,
): { message: DiscordMessage & { attachments?: { id: number; filename: string }[] }; files: PreviewFile[] } {
  const [embed, ...others] = message.embeds;
  if (!report || !embed) return { message, files: [] };
  const room = Math.min(LIMITS.fieldValue, LIMITS.embedTotal - embedLength(embed) - 'Timeline'.length);
  const value = codeBlock(report.lines, room);
  const fields = value ? [...(embed.fields ?? []), { name: 'Timeline', value, inline: false }] : embed.fields;
  const withImage: APIEmbed = {
    ...embed,
    ...(fields ? { fields } : {}),
    ...(report.png ? { image: { url: `attachment://${TIMELINE_FILE}` } } : {}),
  };
  return {
    message: {
      ...message,
      embeds: [withImage, ...others],
      ...(report.png ? { attachments: [{ id: 0, filename: TIMELINE_FILE }] } : {}),
    },
    files: report.png ? [{ name: TIMELINE_FILE, attachment: report.png }] : [],
  };
}

/** The lines in a code block of at most `max` characters: whole lines, and "…" when some are left out. */
function codeBlock(lines: readonly string[], max: number): string | null {
  const open = '```\n';
  const close = '\n```';
  const kept: string[] = [];
  let length = open.length + close.length;
  for (const [index, line] of lines.entries()) {
    const more = index < lines.length - 1 ? 2 : 0; // room for a last "\n…"
    if (length + line.length + 1 + more > max) {
      if (kept.length === 0) return null;
      kept.push('…');
      break;
    }
    kept.push(line);
    length += line.length + 1;
  }
  return kept.length > 0 ? `${open}${kept.join('\n')}${close}` : null;
}

/** The characters of an embed that count toward Discord's 6000. */
export function embedLength(embed: APIEmbed): number {
  return (
    (embed.title?.length ?? 0) +
    (embed.description?.length ?? 0) +
    (embed.footer?.text.length ?? 0) +
    (embed.author?.name.length ?? 0) +
    (embed.fields ?? []).reduce((sum, field) => sum + field.name.length + field.value.length, 0)
  );
}
