import { type APIApplicationCommandSubcommandOption, ApplicationCommandOptionType } from 'discord.js';
import { deploySteps } from '../../domain/planner/deploy-steps.js';
import { planSequence } from '../../domain/planner/plan.js';
import { skippedNote } from '../discord-words.js';
import { targetsOf } from '../reboot-plan.js';
import { previewMessage } from '../render/change-preview.js';
import { defineCommand } from './command.js';
import { skipBrokenOption, targetOption } from './options.js';

export const definition = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'diff',
  description: 'What a deploy would change: packages, closure size, kernel, units (nothing is activated)',
  options: [targetOption(true, 'Machine, @group or all'), skipBrokenOption],
} as const satisfies APIApplicationCommandSubcommandOption;

/** What a bot without nix and SSH (`lab bot`) answers: the preview needs both. */
export const NO_PREVIEWER =
  'The change preview needs nix and SSH to the machines, which this bot process does not have: it runs with `lab serve`.';

/**
 * `/lab diff target:…`: the deploy plan's change preview — each machine's new system built and
 * copied into its store (which changes nothing that runs), diffed there and dry-activated — as a
 * concise embed, the whole as a file when it is long. Operators only: it builds and copies.
 */
export const diff = defineCommand({
  definition,
  needs: 'operate',
  async handle({ target, skipBroken }, { interaction, context }) {
    if (!context.preview) {
      await interaction.editReply(NO_PREVIEWER);
      return;
    }
    const inventory = await context.runs.inventory(context.config.flake);
    const plan = planSequence(inventory, { targets: targetsOf(target), skipBroken: skipBroken ?? false });
    const steps = deploySteps(plan);
    const { previews, digest } = await context.preview(context.config.flake, steps);
    const count = previews.length;
    const message = previewMessage(previews, {
      title: `What a deploy of ${target} would change (${count} machine${count === 1 ? '' : 's'})`,
      digest,
      footer: context.config.flake,
    });
    const note = skippedNote(plan.skipped).trim();
    await interaction.editReply({ ...(note ? { content: note } : {}), ...message });
  },
});
