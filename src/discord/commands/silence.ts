import { type APIApplicationCommandSubcommandOption, ApplicationCommandOptionType } from 'discord.js';
import { formatDuration } from '../../domain/monitor/silence.js';
import { MonitorClient } from '../../orchestration/monitor/monitor-client.js';
import { actorOf } from '../bot-context.js';
import { knownInventory } from '../monitor-actions.js';
import { when } from '../render/colors.js';
import { defineCommand } from './command.js';
import { targetOption } from './options.js';

export const definition = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'silence',
  description: "Silence the monitor's alerts for a machine, a group or all, for a while",
  options: [
    targetOption(true, 'Machine, @group or all'),
    {
      type: ApplicationCommandOptionType.String,
      name: 'duration',
      description: 'How long: 30m, 2h, 1h30m, 1d (at most 4w)',
      required: true,
      max_length: 20,
    },
    {
      type: ApplicationCommandOptionType.String,
      name: 'reason',
      description: 'Why (shown with the silence)',
      required: true,
      max_length: 300,
    },
  ],
} as const satisfies APIApplicationCommandSubcommandOption;

/** `/lab silence target duration reason`: no monitor alerts for the target until it expires. */
export const silence = defineCommand({
  definition,
  needs: 'operate',
  async handle({ target, duration, reason }, { interaction, member, context }) {
    const created = await new MonitorClient(context.runs).silence(
      { target, duration, reason, by: actorOf(member) },
      await knownInventory(context),
    );
    await interaction.editReply(
      `Silenced ${created.target} until ${when(created.until, 't')} (${formatDuration(created.until - created.createdAt)}): ${created.reason}. Silence \`${created.id}\`; /lab silences lists it.`,
    );
  },
});
