import { type APIApplicationCommandSubcommandOption, ApplicationCommandOptionType } from 'discord.js';
import { statusEmbed } from '../render/info-embeds.js';
import { defineCommand } from './command.js';

export const definition = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'status',
  description: 'Active and recent runs',
  options: [],
} as const satisfies APIApplicationCommandSubcommandOption;

/** `/lab status`: the active and recent runs. */
export const status = defineCommand({
  definition,
  needs: 'view',
  async handle(_args, { interaction, context }) {
    await interaction.editReply({ embeds: [statusEmbed(await context.runs.runs(15))] });
  },
});
