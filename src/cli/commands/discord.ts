import type { Command } from 'commander';
import { discordConfig } from '../../discord/discord-config.js';
import { LabBot } from '../../discord/lab-bot.js';
import { registerCommands } from '../../discord/register-commands.js';
import { queueConfig } from '../../orchestration/queue/queue-config.js';
import { RunControl } from '../../orchestration/queue/run-control.js';
import { RunQueue } from '../../orchestration/queue/run-queue.js';
import { serviceLogger, untilStopSignal } from '../run-support.js';
import type { Context } from './shared.js';

/** `lab discord register` and `lab bot`. */
export function discordCommands(program: Command, context: Context): void {
  const discord = program.command('discord').description('the Discord bot: register its commands');
  discord
    .command('register')
    .description('register /lab in the guilds of DISCORD_GUILD_IDS')
    .action(async () => {
      const guilds = await registerCommands(discordConfig(context.env));
      context.output.lines([
        `Registered /lab in ${guilds.length} guild${guilds.length === 1 ? '' : 's'}: ${guilds.join(', ')}`,
      ]);
    });

  program
    .command('bot')
    .description('run the Discord bot alone (gateway): it enqueues runs for `lab worker`s')
    .action(async () => {
      const log = serviceLogger('lab bot', context);
      const config = discordConfig(context.env);
      const runs = await RunQueue.connect(queueConfig(context.env), 'lab-bot');
      const bot = new LabBot(config, runs, new RunControl(runs), log);
      try {
        await bot.start();
        log.info(`ready in ${config.guildIds.length} guild(s); queue ${runs.config.queue}`);
        await untilStopSignal(log);
      } finally {
        await bot.stop();
        await runs.close();
      }
    });
}
