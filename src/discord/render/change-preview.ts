import type { APIEmbed, APIEmbedField } from 'discord.js';
import type { MachinePreview } from '../../domain/deploy/change-preview.js';
import { previewHeadline, previewLines, previewText } from '../../orchestration/change-preview-text.js';
import { COLOR, clip } from './colors.js';

/**
 * Discord's limits that a preview must stay within: an embed's description 4096 characters, 25
 * fields of 1024, 6000 characters in all its text; a bot's attachment up to 10 MiB.
 */
export const LIMITS = {
  description: 4096,
  fields: 25,
  fieldValue: 1024,
  embedTotal: 6000,
  file: 10 * 1024 * 1024,
};

/** A file to attach to a message (discord.js `files`). */
export interface PreviewFile {
  readonly name: string;
  readonly attachment: Buffer;
}

/** A message with a change preview: a concise embed, and the whole preview as a file when it is long. */
export interface PreviewMessage {
  readonly embeds: APIEmbed[];
  readonly files: PreviewFile[];
}

/** The whole preview as a text file, cut (and saying so) where Discord's size limit would be passed. */
export function previewFile(previews: readonly MachinePreview[], digest: string): PreviewFile {
  let text = previewText(previews);
  const bytes = Buffer.byteLength(text);
  if (bytes > LIMITS.file) {
    const note = `\n… cut at ${LIMITS.file} bytes of ${bytes}\n`;
    text =
      Buffer.from(text)
        .subarray(0, LIMITS.file - Buffer.byteLength(note))
        .toString('utf8') + note;
  }
  return { name: `changes-${digest}.txt`, attachment: Buffer.from(text) };
}

/** One field per machine: its lines, clipped to a field's limit. Whether anything was clipped. */
function machineFields(previews: readonly MachinePreview[]): { fields: APIEmbedField[]; clipped: boolean } {
  let clipped = false;
  const fields = previews.map((preview) => {
    const value = previewLines(preview).join('\n');
    if (value.length > LIMITS.fieldValue) clipped = true;
    const icon = preview.problems.length > 0 ? '⚠️' : preview.changes === false ? '▫️' : '🔸';
    return { name: clip(`${icon} ${preview.machine}`, 256), value: clip(value || '—', LIMITS.fieldValue) };
  });
  return { fields, clipped };
}

const embedSize = (embed: APIEmbed) =>
  (embed.title?.length ?? 0) +
  (embed.description?.length ?? 0) +
  (embed.footer?.text.length ?? 0) +
  (embed.fields ?? []).reduce((sum, field) => sum + field.name.length + field.value.length, 0);

/**
 * The change preview of a deploy plan for `/lab diff` (and the deploy approval request): a line
 * per machine in the description; a field per machine with what changes, while they fit (at most
 * 25, 6000 characters in all); the whole preview as an attached text file when anything had to be
 * left out or cut.
 */
export function previewMessage(
  previews: readonly MachinePreview[],
  options: { readonly title: string; readonly digest: string; readonly footer?: string },
): PreviewMessage {
  const { fields, clipped } = machineFields(previews);
  const problems = previews.filter((preview) => preview.problems.length > 0).length;
  const embed: APIEmbed = {
    title: clip(options.title, 256),
    description: clip(
      previews.map(previewHeadline).join('\n') || 'No machines selected.',
      LIMITS.description,
    ),
    color: problems > 0 ? COLOR.halted : COLOR.info,
    footer: { text: clip(`${options.footer ? `${options.footer} · ` : ''}preview ${options.digest}`, 2048) },
    fields: [],
  };
  const kept: APIEmbedField[] = [];
  let left = fields.length > LIMITS.fields || clipped;
  for (const field of fields.slice(0, LIMITS.fields - 1)) {
    if (embedSize({ ...embed, fields: [...kept, field] }) + 80 > LIMITS.embedTotal) {
      left = true;
      break;
    }
    kept.push(field);
  }
  if (kept.length < fields.length) left = true;
  const note = left ? [{ name: 'More', value: 'The whole preview is in the attached file.' }] : [];
  return {
    embeds: [{ ...embed, fields: [...kept, ...note] }],
    files: left ? [previewFile(previews, options.digest)] : [],
  };
}

/**
 * A machine's preview for its deploy approval request: the fields to add to the approval's embed
 * (what changes there, clipped to Discord's limits) and, when it is long, the whole as a file.
 * The approval stays bound to `digest` (previewDigest of the plan and its store paths).
 */
export function approvalPreview(
  preview: MachinePreview,
  digest: string,
): { fields: APIEmbedField[]; files: PreviewFile[] } {
  const value = previewLines(preview).join('\n');
  return {
    fields: [
      { name: `What the deploy changes on ${preview.machine}`, value: clip(value || '—', LIMITS.fieldValue) },
      { name: 'Preview', value: `\`${digest}\``, inline: true },
    ],
    files: value.length > LIMITS.fieldValue ? [previewFile([preview], digest)] : [],
  };
}
