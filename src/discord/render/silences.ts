import { type APIButtonComponent, ButtonStyle, ComponentType } from 'discord.js';
import type { Silence } from '../../domain/monitor/silence.js';
import { encodeButton } from '../custom-ids.js';
import { COLOR, clip, when } from './colors.js';
import type { DiscordMessage } from './plan-message.js';

/** The silences in force, each with who, why and until when, and a button to remove it (the first 25). */
export function silencesMessage(silences: readonly Silence[]): DiscordMessage {
  if (silences.length === 0)
    return {
      content: 'No silences: the monitor alerts on every machine it watches.',
      embeds: [],
      components: [],
    };
  const lines = silences.map(
    (silence) =>
      `\`${silence.id}\` **${silence.target}** until ${when(silence.until, 't')} (${when(silence.until, 'R')}), by ${silence.by.name}: ${silence.reason}`,
  );
  const buttons: APIButtonComponent[] = silences.slice(0, 25).map((silence) => ({
    type: ComponentType.Button,
    style: ButtonStyle.Secondary,
    label: clip(`Remove ${silence.target} (${silence.id})`, 80),
    custom_id: encodeButton({ action: 'unsilence', silence: silence.id }),
  }));
  const rows = [];
  for (let i = 0; i < buttons.length; i += 5)
    rows.push({ type: ComponentType.ActionRow as const, components: buttons.slice(i, i + 5) });
  return {
    embeds: [
      {
        title: `Silences (${silences.length})`,
        description: clip(lines.join('\n'), 4000),
        color: COLOR.waiting,
      },
    ],
    components: rows,
  };
}
