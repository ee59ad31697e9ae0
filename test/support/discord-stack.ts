/**
 * The Discord test stack: a test's queue on a simulated homelab (queue-stack.ts), the fake Discord
 * API, the run notifier and the bot, as `lab serve` runs them but in this process.
 * Start it in `beforeAll` and stop it in `afterAll`:
 *
 *   const role = { operator: snowflake(), approver: snowflake() };
 *   let stack: DiscordStack;
 *   beforeAll(async () => {
 *     stack = await startDiscordStack({ machines: { nas: standardMachines.nas }, roles: role });
 *   });
 *   afterAll(() => stack?.stop());
 */
import { type DiscordConfig, discordConfig } from '../../src/discord/discord-config.js';
import { LabBot } from '../../src/discord/lab-bot.js';
import { discordRest } from '../../src/discord/register-commands.js';
import { RunNotifier } from '../../src/discord/run-notifier.js';
import { type ChangePreviewer, sshChangePreviewer } from '../../src/orchestration/change-previewer.js';
import { RunControl } from '../../src/orchestration/queue/run-control.js';
import { loadSshCredentials } from '../../src/transport/ssh/ssh-credentials.js';
import { FakeDiscord } from '../discord/fake-discord.js';
import { testNix } from './flake-fixtures.js';
import type { HomelabDescription } from './homelabs.js';
import { type MemoryLogger, memoryLogger } from './memory-logger.js';
import { queueEnv } from './queue.js';
import { type QueueStack, startQueueStack } from './queue-stack.js';

/** The guild's roles lab is configured with; `oncall`, if given, is mentioned in failure alerts. */
export interface DiscordRoles {
  readonly operator: string;
  readonly approver: string;
  readonly oncall?: string;
}

export interface DiscordStackOptions {
  /** The homelab's machines (started with startTestHomelab). */
  readonly machines: HomelabDescription;
  readonly roles: DiscordRoles;
  /** Settings of the test's queue, for its worker and client (e.g. LAB_HEALTH_TIMEOUT). */
  readonly queue?: Record<string, string>;
  /** Runs started outside Discord are shown in the fake's channel (DISCORD_CHANNEL_ID; default: none). */
  readonly runChannel?: boolean;
  /** Whether the run notifier posts run messages and alerts (default true). */
  readonly notifier?: boolean;
  /** Whether the bot previews deploys (`/lab diff`) with nix and SSH to the machines (default false). */
  readonly preview?: boolean;
}

export interface DiscordStack extends QueueStack {
  readonly fake: FakeDiscord;
  readonly config: DiscordConfig;
  /** What the notifier and the bots logged. */
  readonly log: MemoryLogger;
  /** The bot started with the stack. */
  readonly bot: LabBot;
  /** Starts another bot on the stack's configuration and queue (stopped by `stop`). */
  startBot(options?: { preview?: ChangePreviewer }): Promise<LabBot>;
  /** Stops the bots, the notifier, the queue (clients, workers, homelab), then the fake. */
  stop(): Promise<void>;
}

export async function startDiscordStack(options: DiscordStackOptions): Promise<DiscordStack> {
  const { roles } = options;
  const queue = await startQueueStack({ machines: options.machines, env: queueEnv(options.queue) });
  const { lab, runs } = queue;
  const log = memoryLogger();
  const bots: LabBot[] = [];
  let fake: FakeDiscord | undefined;
  let notifier: RunNotifier | undefined;
  const stop = async () => {
    for (const bot of bots.splice(0)) await bot.stop();
    await notifier?.stop();
    await queue.stop();
    await fake?.stop();
  };
  try {
    fake = await FakeDiscord.start({
      roles: [
        { id: roles.operator, name: 'operator' },
        { id: roles.approver, name: 'approver' },
        ...(roles.oncall ? [{ id: roles.oncall, name: 'oncall' }] : []),
      ],
    });
    const config = discordConfig({
      DISCORD_TOKEN: 'fake-token',
      DISCORD_APPLICATION_ID: fake.applicationId,
      DISCORD_GUILD_IDS: fake.guildId,
      ...(roles.oncall ? { DISCORD_ONCALL_ROLE_ID: roles.oncall } : {}),
      DISCORD_OPERATOR_ROLE_IDS: roles.operator,
      DISCORD_APPROVER_ROLE_IDS: roles.approver,
      DISCORD_API_URL: fake.apiUrl,
      ...(options.runChannel ? { DISCORD_CHANNEL_ID: fake.channelId } : {}),
      DISCORD_EDIT_INTERVAL_MS: '100',
      LAB_FLAKE: lab.flake,
    });
    if (options.notifier ?? true) {
      notifier = new RunNotifier(runs, config, discordRest(config), log.log);
      notifier.start();
    }
    const startBot = async (botOptions: { preview?: ChangePreviewer } = {}) => {
      const bot = new LabBot(config, runs, new RunControl(runs), log.log, botOptions);
      bots.push(bot);
      await bot.start();
      return bot;
    };
    const preview = options.preview
      ? sshChangePreviewer(
          testNix,
          await loadSshCredentials({ keyPath: lab.keyPath, knownHostsPath: lab.knownHostsPath }, {}),
        )
      : undefined;
    const bot = await startBot(preview ? { preview } : {});
    return { ...queue, fake, config, log, bot, startBot, stop };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}
