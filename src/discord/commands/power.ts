import { type APIApplicationCommandSubcommandOption, ApplicationCommandOptionType } from 'discord.js';
import { actorOf } from '../bot-context.js';
import { type CommandCall, defineCommand } from './command.js';

export const definition = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'power',
  description: 'Power a machine on or off, power-cycle it, or read its power state (lab.machine.power)',
  options: [
    {
      type: ApplicationCommandOptionType.String,
      name: 'machine',
      description: 'The machine, by name',
      required: true,
      autocomplete: true,
      max_length: 100,
    },
    {
      type: ApplicationCommandOptionType.String,
      name: 'action',
      description: 'off and cycle need the approvals a reboot of the machine needs',
      required: true,
      choices: [
        { name: 'on', value: 'on' },
        { name: 'off', value: 'off' },
        { name: 'cycle', value: 'cycle' },
        { name: 'status', value: 'status' },
      ],
    },
  ],
} as const satisfies APIApplicationCommandSubcommandOption;

/**
 * Submits a power run: one action on one machine, under its lock, with the machine's approvals
 * for off and cycle. Used by `/lab power` and the alerts' Power cycle button.
 */
export async function startPowerRun(
  machine: string,
  action: 'on' | 'off' | 'cycle' | 'status',
  {
    interaction,
    member,
    context,
  }: Pick<CommandCall, 'member' | 'context'> & {
    readonly interaction: { readonly channelId: string | null; editReply(text: string): Promise<unknown> };
  },
  haltedRun: string | null = null,
): Promise<void> {
  const submitted = await context.runs.submit({
    kind: 'power',
    flake: context.config.flake,
    targets: [machine],
    action,
    ...(haltedRun ? { haltedRun } : {}),
    requestedBy: actorOf(member),
    source: 'discord',
    ...(interaction.channelId ? { discordChannel: interaction.channelId } : {}),
  });
  await interaction.editReply(
    submitted.duplicate
      ? `The same power ${action} of ${machine} is already running as run \`${submitted.runId}\`.`
      : `Started power run \`${submitted.runId}\`: ${action} ${machine} (plan \`${submitted.data.planId}\`).`,
  );
}

/** `/lab power <machine> <action>`: starts a power run. */
export const power = defineCommand({
  definition,
  needs: 'operate',
  handle: ({ machine, action }, call) => startPowerRun(machine, action, call),
});
