import { type APIApplicationCommandSubcommandOption, ApplicationCommandOptionType } from 'discord.js';
import { MonitorClient } from '../../orchestration/monitor/monitor-client.js';
import { silencesMessage } from '../render/silences.js';
import { defineCommand } from './command.js';

export const definition = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'silences',
  description: "The monitor's silences in force: what, until when, who and why",
  options: [],
} as const satisfies APIApplicationCommandSubcommandOption;

/** `/lab silences`: the silences, each with a button to remove it. */
export const silences = defineCommand({
  definition,
  needs: 'view',
  async handle(_args, { interaction, context }) {
    await interaction.editReply(silencesMessage(await new MonitorClient(context.runs).silences()));
  },
});
