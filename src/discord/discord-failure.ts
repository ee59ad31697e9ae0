import { DiscordAPIError, DiscordjsError, DiscordjsErrorCodes, PermissionFlagsBits } from 'discord.js';
import { DiscordError } from '../errors.js';
import type { DiscordConfig } from './discord-config.js';

/**
 * Bot permissions lab needs in its channels (docs/operator-guide.md): see the channel, post and
 * edit run messages with embeds, open a thread per run and post in it.
 */
export const BOT_PERMISSIONS = (
  PermissionFlagsBits.ViewChannel |
  PermissionFlagsBits.SendMessages |
  PermissionFlagsBits.EmbedLinks |
  PermissionFlagsBits.ReadMessageHistory |
  PermissionFlagsBits.CreatePublicThreads |
  PermissionFlagsBits.SendMessagesInThreads
).toString();

/** The invite link that adds the bot with the scopes and permissions lab needs. */
export const inviteUrl = (applicationId: string | undefined): string =>
  `https://discord.com/oauth2/authorize?client_id=${applicationId ?? '<DISCORD_APPLICATION_ID>'}` +
  `&scope=bot+applications.commands&permissions=${BOT_PERMISSIONS}`;

const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function networkCode(error: unknown): string | undefined {
  for (let cause = error as { code?: unknown; cause?: unknown } | undefined; cause; ) {
    if (typeof cause.code === 'string' && networkCodes.has(cause.code)) return cause.code;
    cause = cause.cause as typeof cause | undefined;
  }
  return undefined;
}

/**
 * What went wrong talking to Discord, said so that the operator knows what to do: a refused
 * token, a guild the bot is not in, or Discord out of reach. Other errors are returned as they are.
 */
export function discordFailure(error: unknown, config: DiscordConfig, doing: string): unknown {
  if (
    (error instanceof DiscordjsError && error.code === DiscordjsErrorCodes.TokenInvalid) ||
    (error instanceof DiscordAPIError && error.status === 401)
  ) {
    return new DiscordError(
      `${doing}: Discord refused the bot token (DISCORD_TOKEN / DISCORD_TOKEN_FILE): copy it again ` +
        'from the Developer Portal (your application → Bot → Reset Token)',
      { cause: error },
    );
  }
  if (error instanceof DiscordAPIError && (error.code === 50001 || error.status === 403)) {
    return new DiscordError(
      `${doing}: Discord says Missing Access (${error.url.replace(/^.*\/api\/v\d+/, '')}): is the bot in that ` +
        `guild? Invite it with the applications.commands scope: ${inviteUrl(config.applicationId)}`,
      { cause: error },
    );
  }
  const code = networkCode(error);
  if (code) {
    return new DiscordError(`${doing}: cannot reach Discord at ${config.apiUrl} (${code})`, { cause: error });
  }
  return error;
}
