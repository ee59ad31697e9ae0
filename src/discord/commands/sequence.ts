import { type APIApplicationCommandSubcommandOption, ApplicationCommandOptionType } from 'discord.js';
import { rebootPlan } from '../reboot-plan.js';
import { planMessage } from '../render/plan-message.js';
import { defineCommand } from './command.js';
import { skipBrokenOption, targetOption } from './options.js';

export const definition = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'sequence',
  description: 'Show the reboot plan: steps, delays, criticality, approvals',
  options: [targetOption(false, 'Machine, @group or all (default: all)'), skipBrokenOption],
} as const satisfies APIApplicationCommandSubcommandOption;

/** `/lab sequence [target]`: the reboot plan, with a Start button bound to its id. */
export const sequence = defineCommand({
  definition,
  needs: 'view',
  async handle(args, { interaction, context }) {
    const target = args.target ?? 'all';
    const skipBroken = args.skipBroken ?? false;
    const inventory = await context.runs.inventory(context.config.flake);
    const { plan, id } = rebootPlan(inventory, target, skipBroken);
    await interaction.editReply(
      planMessage(plan, inventory, context.runs.config.approvals, {
        target,
        planId: id,
        skipBroken,
        windows: { now: Date.now(), global: context.runs.config.maintenanceWindow },
      }),
    );
  },
});
