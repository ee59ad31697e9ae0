import { type APIApplicationCommandSubcommandOption, ApplicationCommandOptionType } from 'discord.js';
import { MonitorClient } from '../../orchestration/monitor/monitor-client.js';
import { defineCommand } from './command.js';

export const definition = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'unsilence',
  description: 'Remove a silence: alerts for its machines are raised again',
  options: [
    {
      type: ApplicationCommandOptionType.String,
      name: 'silence',
      description: 'The silence id (/lab silences lists them)',
      required: true,
      max_length: 32,
    },
  ],
} as const satisfies APIApplicationCommandSubcommandOption;

/** `/lab unsilence <id>`: removes one silence. */
export const unsilence = defineCommand({
  definition,
  needs: 'operate',
  async handle({ silence }, { interaction, context }) {
    const removed = await new MonitorClient(context.runs).unsilence(silence);
    await interaction.editReply(`Removed the silence of ${removed.target} (${removed.reason}).`);
  },
});
