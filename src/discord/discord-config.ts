import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigurationError } from '../errors.js';
import { envProblem } from '../util/env-problem.js';

/** The bot's and the notifier's configuration, from environment variables (validated at start-up). */
export interface DiscordConfig {
  /** Never logged; redacted wherever configuration is shown. */
  readonly token: string;
  readonly applicationId: string | undefined;
  /** Guilds the bot answers in (others are ignored) and registers its commands for. */
  readonly guildIds: readonly string[];
  /** Where runs started outside Discord (CLI, schedule) are shown; runs from Discord use their channel. */
  readonly channelId: string | undefined;
  /** Where failure alerts go (default: the run's channel). */
  readonly alertChannelId: string | undefined;
  /** Mentioned in failure alerts. */
  readonly oncallRoleId: string | undefined;
  /** May start, cancel, retry, skip and abort runs. */
  readonly operatorRoleIds: readonly string[];
  /** May approve and deny steps. */
  readonly approverRoleIds: readonly string[];
  /** May use the read-only commands; empty means everyone in an allowed guild. */
  readonly viewerRoleIds: readonly string[];
  /** The flake the bot's commands are about (empty without a bot: a worker's notifier, registering). */
  readonly flake: string;
  /** Discord's REST API (tests point this at a fake). */
  readonly apiUrl: string;
  /** Shortest time between two edits of a run message. */
  readonly editIntervalMs: number;
}

const snowflake = z.string().regex(/^\d{5,25}$/, 'a Discord id (digits)');
const idList = z
  .string()
  .transform((value) => value.split(/[\s,]+/).filter(Boolean))
  .pipe(z.array(snowflake));

const envSchema = z.object({
  DISCORD_TOKEN: z.string().min(1).optional(),
  DISCORD_TOKEN_FILE: z.string().min(1).optional(),
  DISCORD_APPLICATION_ID: snowflake.optional(),
  DISCORD_GUILD_IDS: idList.refine((ids) => ids.length > 0, 'at least one guild id'),
  DISCORD_CHANNEL_ID: snowflake.optional(),
  DISCORD_ALERT_CHANNEL_ID: snowflake.optional(),
  DISCORD_ONCALL_ROLE_ID: snowflake.optional(),
  DISCORD_OPERATOR_ROLE_IDS: idList.refine((ids) => ids.length > 0, 'at least one role id'),
  DISCORD_APPROVER_ROLE_IDS: idList.refine((ids) => ids.length > 0, 'at least one role id'),
  DISCORD_VIEWER_ROLE_IDS: idList.default([]),
  DISCORD_API_URL: z.url().default('https://discord.com/api'),
  DISCORD_EDIT_INTERVAL_MS: z.coerce.number().int().min(0).max(60_000).default(1_000),
  LAB_FLAKE: z.string().min(1, 'the flake the bot is about'),
});
/** Without the bot (a worker posting run messages, registering the commands) no flake is needed. */
const withoutBotSchema = envSchema.extend({ LAB_FLAKE: z.string().optional() });

/** Whether the environment asks for Discord at all (a token is configured). */
export function discordWanted(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.DISCORD_TOKEN || env.DISCORD_TOKEN_FILE);
}

/**
 * Reads and validates the Discord configuration. Every problem names its variable; the token is
 * read from DISCORD_TOKEN or the file DISCORD_TOKEN_FILE (e.g. a systemd credential). LAB_FLAKE
 * is required for the bot only (`bot: false` for a worker's notifier, or registering).
 */
export function discordConfig(
  env: NodeJS.ProcessEnv = process.env,
  options: { bot?: boolean } = {},
): DiscordConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = (options.bot === false ? withoutBotSchema : envSchema).safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(envProblem);
    throw new ConfigurationError(`invalid Discord configuration: ${problems.join('; ')}`);
  }
  const vars = parsed.data;
  return {
    token: readToken(vars.DISCORD_TOKEN, vars.DISCORD_TOKEN_FILE),
    applicationId: vars.DISCORD_APPLICATION_ID,
    guildIds: vars.DISCORD_GUILD_IDS,
    channelId: vars.DISCORD_CHANNEL_ID,
    alertChannelId: vars.DISCORD_ALERT_CHANNEL_ID,
    oncallRoleId: vars.DISCORD_ONCALL_ROLE_ID,
    operatorRoleIds: vars.DISCORD_OPERATOR_ROLE_IDS,
    approverRoleIds: vars.DISCORD_APPROVER_ROLE_IDS,
    viewerRoleIds: vars.DISCORD_VIEWER_ROLE_IDS,
    flake: vars.LAB_FLAKE ?? '',
    apiUrl: vars.DISCORD_API_URL.replace(/\/+$/, ''),
    editIntervalMs: vars.DISCORD_EDIT_INTERVAL_MS,
  };
}

function readToken(token: string | undefined, file: string | undefined): string {
  if (token && file) throw new ConfigurationError('set DISCORD_TOKEN or DISCORD_TOKEN_FILE, not both');
  if (token) return token.trim();
  if (!file) throw new ConfigurationError('DISCORD_TOKEN or DISCORD_TOKEN_FILE: the bot token is missing');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigurationError(
      `DISCORD_TOKEN_FILE: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  if (!text.trim()) throw new ConfigurationError(`DISCORD_TOKEN_FILE: ${file} is empty`);
  return text.trim();
}
