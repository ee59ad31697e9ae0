import { type APIApplicationCommandSubcommandOption, ApplicationCommandOptionType } from 'discord.js';
import { actorOf } from '../bot-context.js';
import { defineCommand } from './command.js';

export const definition = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'cancel',
  description: 'Cancel a run: it stops at the next phase boundary',
  options: [
    {
      type: ApplicationCommandOptionType.String,
      name: 'run',
      description: 'The run id',
      required: true,
      autocomplete: true,
      max_length: 64,
    },
  ],
} as const satisfies APIApplicationCommandSubcommandOption;

/** `/lab cancel <run>`: cancels a run. */
export const cancel = defineCommand({
  definition,
  needs: 'operate',
  async handle({ run }, { interaction, member, context }) {
    await context.control.cancel(run, actorOf(member));
    await interaction.editReply(
      `Cancelling run \`${run}\`: nothing more is started; a machine already rebooting or activating is seen back healthy first.`,
    );
  },
});
