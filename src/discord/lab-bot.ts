import {
  type ChatInputCommandInteraction,
  Client,
  Events,
  GatewayIntentBits,
  type Interaction,
  MessageFlags,
} from 'discord.js';
import type { Logger } from 'pino';
import type { MonitorDefaults } from '../domain/monitor/monitor-settings.js';
import { LabError } from '../errors.js';
import type { ChangePreviewer } from '../orchestration/change-previewer.js';
import { monitorConfig } from '../orchestration/monitor/monitor-config.js';
import type { RunControl } from '../orchestration/queue/run-control.js';
import type { RunQueue } from '../orchestration/queue/run-queue.js';
import { pause } from '../util/pause.js';
import { autocomplete } from './autocomplete.js';
import type { BotContext } from './bot-context.js';
import { buttonClick } from './buttons.js';
import type { DiscordConfig } from './discord-config.js';
import { discordFailure } from './discord-failure.js';
import { slashCommand } from './slash-commands.js';

/** What a user who clicks or types while lab stops is told. */
export const SHUTTING_DOWN = 'lab is shutting down; try again in a moment.';

/** How long stopping waits for the interactions in progress (a submission reads the flake). */
const DRAIN_MS = 30_000;

/**
 * The gateway side: receives interactions, checks who may do what, enqueues runs and answers.
 * It never carries out runs (workers do) and keeps no state of its own, so it can restart at any
 * time. Errors reach the user as a short ephemeral message; unexpected ones are logged.
 */
export class LabBot {
  private readonly client: Client;
  private readonly context: BotContext;
  /** Interactions being handled: stopping lets them finish before the queue is closed. */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();

  /**
   * `options.preview`: how `/lab diff` makes change previews (a process with nix and SSH);
   * `options.monitor`: the monitor's defaults as the workers have them (LAB_MONITOR_*; without
   * it, the defaults of an environment that sets none).
   */
  constructor(
    config: DiscordConfig,
    runs: RunQueue,
    control: RunControl,
    log: Logger,
    options: { preview?: ChangePreviewer; monitor?: MonitorDefaults } = {},
  ) {
    this.context = {
      config,
      runs,
      control,
      log,
      stopping: this.stopping.signal,
      monitor: options.monitor ?? monitorConfig({}),
      ...(options.preview ? { preview: options.preview } : {}),
    };
    this.client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: config.apiUrl } });
    this.client.on(Events.InteractionCreate, (interaction) => {
      const handling = this.handle(interaction);
      this.inFlight.add(handling);
      void handling.finally(() => this.inFlight.delete(handling));
    });
    this.client.on(Events.Error, (error) => log.error({ err: error }, `discord client: ${error.message}`));
  }

  /** Logs in and resolves once the gateway is ready. */
  async start(): Promise<void> {
    const ready = new Promise<void>((resolve) => this.client.once(Events.ClientReady, () => resolve()));
    try {
      await this.client.login(this.context.config.token);
    } catch (error) {
      await this.client.destroy();
      throw discordFailure(error, this.context.config, 'logging in to Discord');
    }
    await ready;
    this.context.log.info(`discord: logged in as ${this.client.user?.tag ?? 'the bot'}`);
  }

  /**
   * Stops taking interactions (new ones are told that lab is shutting down), lets those in
   * progress finish (up to DRAIN_MS; a submission then either is enqueued and answered, or was
   * refused), then leaves the gateway. Only after this may the queue's connection be closed.
   */
  async stop(drainMs = DRAIN_MS): Promise<void> {
    this.stopping.abort();
    const { log } = this.context;
    if (this.inFlight.size > 0)
      log.info(`discord: finishing ${this.inFlight.size} interaction(s) in progress before stopping`);
    // Those refused meanwhile are in flight too (their answer): wait for them as well.
    const deadline = Date.now() + drainMs;
    while (this.inFlight.size > 0 && Date.now() < deadline) {
      const waiting = new AbortController();
      await Promise.race([
        Promise.allSettled([...this.inFlight]),
        pause(deadline - Date.now(), waiting.signal),
      ]);
      waiting.abort();
    }
    if (this.inFlight.size > 0)
      log.warn(
        `discord: ${this.inFlight.size} interaction(s) still in progress after ${drainMs / 1000} s; stopping anyway`,
      );
    await this.client.destroy();
  }

  private async handle(interaction: Interaction): Promise<void> {
    const { config, log } = this.context;
    const what = describe(interaction);
    if (this.stopping.signal.aborted) {
      log.info({ userId: interaction.user.id }, `${what}: refused, lab is shutting down`);
      await this.answerError(interaction, SHUTTING_DOWN).catch((error: Error) =>
        log.warn({ err: error }, `${what}: could not answer: ${error.message}`),
      );
      return;
    }
    try {
      if (!interaction.guildId || !config.guildIds.includes(interaction.guildId)) {
        log.info(
          { guildId: interaction.guildId },
          `ignored ${what} from guild ${interaction.guildId ?? 'none'} (not in DISCORD_GUILD_IDS)`,
        );
        if (interaction.isRepliable())
          await interaction.reply({ content: 'lab is not enabled here.', flags: MessageFlags.Ephemeral });
        return;
      }
      if (interaction.isAutocomplete()) await autocomplete(interaction, this.context);
      else if (interaction.isChatInputCommand() && interaction.commandName === 'lab')
        await slashCommand(interaction as ChatInputCommandInteraction, this.context);
      else if (interaction.isButton()) await buttonClick(interaction, this.context);
    } catch (error) {
      const expected = error instanceof LabError;
      // Cut off by the shutdown (it waited DRAIN_MS): the queue's connection is closed under it.
      const cutOff = !expected && this.stopping.signal.aborted;
      if (cutOff) log.warn({ err: error, userId: interaction.user.id }, `${what}: cut off by the shutdown`);
      else if (!expected) log.error({ err: error, userId: interaction.user.id }, `${what}: unexpected error`);
      const message = expected
        ? (error as LabError).publicMessage
        : cutOff
          ? 'lab shut down before this was done; /lab status shows whether it started.'
          : 'Something went wrong; the error is logged.';
      await this.answerError(interaction, message).catch((replyError: Error) =>
        log.warn({ err: replyError }, `${what}: could not report the error: ${replyError.message}`),
      );
    }
  }

  /** A short ephemeral message, whether the interaction was answered, deferred or neither. */
  private async answerError(interaction: Interaction, message: string): Promise<void> {
    if (interaction.isAutocomplete()) {
      if (!interaction.responded) await interaction.respond([]);
      return;
    }
    if (!interaction.isRepliable()) return;
    const content = `⚠️ ${message}`.slice(0, 1900);
    if (!interaction.deferred && !interaction.replied) {
      await interaction.reply({ content, flags: MessageFlags.Ephemeral });
    } else if (interaction.ephemeral) {
      await interaction.editReply({ content });
    } else {
      await interaction.deleteReply().catch(() => {});
      await interaction.followUp({ content, flags: MessageFlags.Ephemeral });
    }
  }
}

function describe(interaction: Interaction): string {
  if (interaction.isChatInputCommand())
    return `/lab ${interaction.options.getSubcommand(false) ?? ''}`.trim();
  if (interaction.isButton()) return `button ${interaction.customId}`;
  if (interaction.isAutocomplete()) return 'autocomplete';
  return `interaction ${interaction.type}`;
}
