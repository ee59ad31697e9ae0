import { REST, Routes } from 'discord.js';
import { commandDefinitions } from './commands/index.js';
import type { DiscordConfig } from './discord-config.js';
import { discordFailure } from './discord-failure.js';

/** A REST client for Discord's API (or the tests' fake), with the bot token. */
export function discordRest(config: DiscordConfig): REST {
  return new REST({ api: config.apiUrl, version: '10' }).setToken(config.token);
}

/**
 * Registers `/lab` for every configured guild (guild commands update at once, unlike global
 * ones). Returns the guilds registered.
 */
export async function registerCommands(config: DiscordConfig, rest = discordRest(config)): Promise<string[]> {
  let applicationId = config.applicationId;
  try {
    applicationId ??= ((await rest.get(Routes.currentApplication())) as { id: string }).id;
  } catch (error) {
    throw discordFailure(error, config, 'reading the application id');
  }
  for (const guildId of config.guildIds) {
    try {
      await rest.put(Routes.applicationGuildCommands(applicationId, guildId), { body: commandDefinitions });
    } catch (error) {
      throw discordFailure(error, { ...config, applicationId }, `registering /lab in guild ${guildId}`);
    }
  }
  return [...config.guildIds];
}
