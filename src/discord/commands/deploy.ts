import { type APIApplicationCommandSubcommandOption, ApplicationCommandOptionType } from 'discord.js';
import { deployStrategies } from '../../domain/inventory/schema.js';
import { defineCommand } from './command.js';
import { skipBrokenOption, targetOption, windowOption } from './options.js';
import { startRun } from './start-run.js';

export const definition = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'deploy',
  description: "Deploy the machines' configurations, health-gated",
  options: [
    targetOption(true, 'Machine, @group or all'),
    {
      type: ApplicationCommandOptionType.String,
      name: 'strategy',
      description: "One strategy for every machine instead of each machine's own",
      required: false,
      choices: deployStrategies.map((strategy) => ({ name: strategy, value: strategy })),
    },
    skipBrokenOption,
    windowOption,
  ],
} as const satisfies APIApplicationCommandSubcommandOption;

/** `/lab deploy <target> [strategy]`: starts a deploy run. */
export const deploy = defineCommand({
  definition,
  needs: 'operate',
  handle: (args, call) => startRun('deploy', args, call),
});
