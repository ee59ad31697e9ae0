import { type APIApplicationCommandSubcommandOption, ApplicationCommandOptionType } from 'discord.js';
import { isRunDone } from '../../orchestration/run-state.js';
import { actorOf, type BotContext } from '../bot-context.js';
import { skippedNote } from '../discord-words.js';
import { targetsOf } from '../reboot-plan.js';
import { healthEmbed } from '../render/info-embeds.js';
import { defineCommand } from './command.js';
import { skipBrokenOption, targetOption } from './options.js';

export const definition = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'health',
  description: "Run the machines' health checks now",
  options: [targetOption(false, 'Machine, @group or all (default: all)'), skipBrokenOption],
} as const satisfies APIApplicationCommandSubcommandOption;

/** `/lab health [target]`: a health run, answered with its results when it finishes soon. */
export const health = defineCommand({
  definition,
  needs: 'view',
  async handle({ target, skipBroken }, { interaction, member, context }) {
    const submitted = await context.runs.submit({
      kind: 'health',
      flake: context.config.flake,
      targets: targetsOf(target),
      skipBroken: skipBroken ?? false,
      requestedBy: actorOf(member),
      source: 'discord',
    });
    const state = await finishedState(context, submitted.runId);
    if (state?.kind !== 'health') {
      await interaction.editReply(
        `Health run \`${submitted.runId}\` is still going: /lab status shows it.${skippedNote(submitted.data.skipped)}`,
      );
      return;
    }
    const results = (state.steps[0]?.machines ?? []).flatMap((machine) => {
      const result = state.progress[machine]?.result;
      return result ? [{ machine, health: result }] : [];
    });
    const note = skippedNote(submitted.data.skipped).trim();
    await interaction.editReply({ ...(note ? { content: note } : {}), embeds: [healthEmbed(results)] });
  },
});

/** Waits (up to 60 s) for a short run to finish; null if it did not. */
async function finishedState(context: BotContext, runId: string) {
  const blocking = context.runs.duplicateConnection('lab-bot-follow');
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 60_000);
  // A bot that stops answers at once ("still going") instead of holding its shutdown up.
  const signal = AbortSignal.any([controller.signal, context.stopping]);
  try {
    for await (const event of context.runs.events.follow(runId, blocking, signal)) {
      if (event.type === 'run.finished') break;
    }
  } finally {
    clearTimeout(timer);
    blocking.disconnect();
  }
  const record = await context.runs.run(runId);
  return isRunDone(record.data.state.status) ? record.data.state : null;
}
