import { type APIApplicationCommandSubcommandOption, ApplicationCommandOptionType } from 'discord.js';
import { defineCommand } from './command.js';
import { skipBrokenOption, targetOption, windowOption } from './options.js';
import { startRun } from './start-run.js';

export const definition = {
  type: ApplicationCommandOptionType.Subcommand,
  name: 'reboot',
  description: 'Reboot machines in the planned order, each healthy before the next',
  options: [targetOption(true, 'Machine, @group or all'), skipBrokenOption, windowOption],
} as const satisfies APIApplicationCommandSubcommandOption;

/** `/lab reboot <target>`: starts a reboot run. */
export const reboot = defineCommand({
  definition,
  needs: 'operate',
  handle: (args, call) => startRun('reboot', args, call),
});
