import type { APIEmbed, APIEmbedField } from 'discord.js';
import type { ApprovalPreview } from '../../orchestration/approval-preview.js';
import { approvalPreview, LIMITS, type PreviewFile } from './change-preview.js';
import type { DiscordMessage } from './plan-message.js';
import { embedLength } from './run-report.js';

/**
 * The run message while deploy machines wait for approval: each one's change preview (what the
 * deploy changes there, and the preview's digest the Approve is bound to) as fields of the embed,
 * as many as fit in Discord's limits, and the whole preview as a file when it is long (or did not
 * fit). `attachments` lists only these files, so an edit replaces the ones before.
 */
export function withApprovalPreviews(
  message: DiscordMessage,
  previews: ReadonlyMap<string, ApprovalPreview>,
): { message: DiscordMessage & { attachments?: { id: number; filename: string }[] }; files: PreviewFile[] } {
  const [embed, ...others] = message.embeds;
  if (!embed || previews.size === 0) return { message, files: [] };
  const fields: APIEmbedField[] = [...(embed.fields ?? [])];
  const files: PreviewFile[] = [];
  let total = embedLength(embed);
  for (const [machine, shown] of previews) {
    if (!shown.preview) {
      fields.push({ name: `What the deploy changes on ${machine}`, value: 'no preview could be made' });
      continue;
    }
    const part = approvalPreview(shown.preview, shown.digest);
    const size = part.fields.reduce((sum, field) => sum + field.name.length + field.value.length, 0);
    const fits = fields.length + part.fields.length <= LIMITS.fields && total + size <= LIMITS.embedTotal;
    if (fits) {
      fields.push(...part.fields);
      files.push(...part.files);
      total += size;
    } else {
      // No room left in the message: the whole preview goes in a file.
      files.push(
        part.files[0] ?? {
          name: `changes-${shown.digest}.txt`,
          attachment: Buffer.from(part.fields.map((field) => `${field.name}\n${field.value}`).join('\n\n')),
        },
      );
    }
  }
  const withFields: APIEmbed = { ...embed, fields };
  return {
    message: {
      ...message,
      embeds: [withFields, ...others],
      ...(files.length > 0 ? { attachments: files.map((file, id) => ({ id, filename: file.name })) } : {}),
    },
    files,
  };
}
