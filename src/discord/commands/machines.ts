import { type APIApplicationCommandSubcommandOption, ApplicationCommandOptionType } from 'discord.js';
import { selectTargets } from '../../domain/planner/select-targets.js';
import { machinesEmbed } from '../render/info-embeds.js';
import { defineCommand } from './command.js';

export const definition = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'machines',
  description: 'List the machines and their metadata',
  options: [
    {
      type: ApplicationCommandOptionType.String,
      name: 'group',
      description: 'Only this group',
      required: false,
      autocomplete: true,
      max_length: 100,
    },
  ],
} as const satisfies APIApplicationCommandSubcommandOption;

/** `/lab machines [group]`: the machines (of a group) and their metadata. */
export const machines = defineCommand({
  definition,
  needs: 'view',
  async handle({ group }, { interaction, context }) {
    const inventory = await context.runs.inventory(context.config.flake);
    const selected = group ? selectTargets(inventory, [`@${group.replace(/^@/, '')}`]) : inventory.machines;
    await interaction.editReply({
      embeds: [machinesEmbed(inventory, selected, group?.replace(/^@/, '') ?? null)],
    });
  },
});
