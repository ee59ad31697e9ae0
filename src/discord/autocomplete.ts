import type { AutocompleteInteraction } from 'discord.js';
import { isRunDone } from '../orchestration/run-state.js';
import type { BotContext } from './bot-context.js';

const MAX_CHOICES = 25;

/**
 * Answers from the cached inventory (no evaluation: Discord wants an answer within 3 s). With
 * nothing cached yet it starts a read in the background and offers `all`.
 */
export async function autocomplete(interaction: AutocompleteInteraction, context: BotContext): Promise<void> {
  const focused = interaction.options.getFocused(true);
  const typed = focused.value.toLowerCase();
  let values: string[];
  if (focused.name === 'run') {
    const records = await context.runs.runs(MAX_CHOICES);
    values = records
      .filter((record) => !isRunDone(record.data.state.status))
      .map((record) => record.data.state.id);
  } else {
    const inventory = await context.runs.cachedInventory(context.config.flake);
    if (!inventory) {
      context.runs.inventory(context.config.flake).catch((error: Error) => {
        context.log.warn(
          { err: error },
          `autocomplete: reading ${context.config.flake} failed: ${error.message}`,
        );
      });
    }
    const machines = inventory?.machines ?? [];
    const groups = [...new Set(machines.flatMap((machine) => machine.groups))].sort();
    values =
      focused.name === 'group'
        ? groups
        : focused.name === 'machine'
          ? machines.map((machine) => machine.name)
          : ['all', ...groups.map((group) => `@${group}`), ...machines.map((machine) => machine.name)];
  }
  const matching = values.filter((value) => value.toLowerCase().includes(typed)).slice(0, MAX_CHOICES);
  await interaction.respond(matching.map((value) => ({ name: value, value })));
}
