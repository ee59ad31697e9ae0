import type { Command } from 'commander';
import { type DiscordConfig, discordConfig } from '../../discord/discord-config.js';
import { monitorConfig } from '../../orchestration/monitor/monitor-config.js';
import { queueConfig } from '../../orchestration/queue/queue-config.js';
import { RunControl } from '../../orchestration/queue/run-control.js';
import type { Logger } from '../logger.js';
import { serviceLogger, untilStopSignal } from '../run-support.js';
import type { Context } from './shared.js';

/**
 * Registers /lab when the bot starts, so an upgrade's commands appear without a manual step
 * (`lab discord register` does the same by hand). A failure is logged, not fatal: the commands
 * registered before still work.
 */
export function registerOnStart(config: DiscordConfig, log: Logger): void {
  import('../../discord/register-commands.js')
    .then(({ registerCommands }) => registerCommands(config))
    .then(
      (guilds) => log.info({ guilds }, `registered /lab in ${guilds.length} guild(s)`),
      (error: Error) => log.warn({ err: error }, `could not register /lab: ${error.message}`),
    );
}

/** `lab discord register` and `lab bot`. */
export function discordCommands(program: Command, context: Context): void {
  const discord = program.command('discord').description('the Discord bot: register its commands');
  discord
    .command('register')
    .description('register /lab in the guilds of DISCORD_GUILD_IDS')
    .action(async () => {
      // Registering needs no flake: LAB_FLAKE is required by the bot only.
      const { registerCommands } = await import('../../discord/register-commands.js');
      const guilds = await registerCommands(discordConfig(context.env, { bot: false }));
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
      // discord.js, BullMQ and ioredis load with the commands that use them, not with every `lab`.
      const [{ LabBot }, { RunQueue }] = await Promise.all([
        import('../../discord/lab-bot.js'),
        import('../../orchestration/queue/run-queue.js'),
      ]);
      const runs = await RunQueue.connect(queueConfig(context.env), 'lab-bot');
      const bot = new LabBot(config, runs, new RunControl(runs), log, {
        monitor: monitorConfig(context.env),
      });
      try {
        await bot.start();
        log.info(`ready in ${config.guildIds.length} guild(s); queue ${runs.config.queue}`);
        registerOnStart(config, log);
        await untilStopSignal(log);
      } finally {
        await bot.stop();
        await runs.close();
      }
    });
}
