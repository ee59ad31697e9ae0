import { type APIApplicationCommandSubcommandOption, ApplicationCommandOptionType } from 'discord.js';
import { MonitorClient, type MonitorRow } from '../../orchestration/monitor/monitor-client.js';
import type { BotContext } from '../bot-context.js';
import { embedLength } from '../render/colors.js';
import { statusEmbed } from '../render/info-embeds.js';
import { monitorEmbed } from '../render/monitor-embed.js';
import { defineCommand } from './command.js';

export const definition = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'status',
  description: "Active and recent runs, and the monitor's view of the machines",
  options: [],
} as const satisfies APIApplicationCommandSubcommandOption;

/** Discord's limit for all the embeds of one message together. */
const MESSAGE_EMBEDS_LIMIT = 6000;

/** `/lab status`: the active and recent runs, then what the monitor says of every machine. */
export const status = defineCommand({
  definition,
  needs: 'view',
  async handle(_args, { interaction, context }) {
    const runs = statusEmbed(await context.runs.runs(15));
    const rows = await monitorRows(context);
    // The monitor's lines get what the runs leave of the message's limit (its title included).
    const budget = MESSAGE_EMBEDS_LIMIT - embedLength(runs) - 100;
    await interaction.editReply({ embeds: [runs, monitorEmbed(rows, { budget })] });
  },
});

/**
 * Every machine of the flake as the monitor sees it (as `lab status` in the terminal shows it),
 * from the machines a worker read last; null when none has read them yet.
 */
async function monitorRows(context: BotContext): Promise<MonitorRow[] | null> {
  const inventory = await context.runs.cachedInventory(context.config.flake);
  return inventory ? new MonitorClient(context.runs).rows(inventory, context.monitor) : null;
}
