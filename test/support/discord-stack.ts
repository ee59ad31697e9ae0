/**
 * The Discord test stack: a simulated homelab, the fake Discord API, a worker and a client of the
 * test's own queue, the run notifier and the bot, as `lab serve` runs them but in this process.
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
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { LabWorker } from '../../src/orchestration/queue/run-worker.js';
import { loadSshCredentials } from '../../src/transport/ssh/ssh-credentials.js';
import { FakeDiscord } from '../discord/fake-discord.js';
import type { Homelab } from '../sim/homelab.js';
import { testNix } from './flake-fixtures.js';
import { type HomelabDescription, startTestHomelab } from './homelabs.js';
import { type MemoryLogger, memoryLogger } from './memory-logger.js';
import { queueClient, queueEnv, startWorker } from './queue.js';

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

export interface DiscordStack {
  readonly lab: Homelab;
  readonly fake: FakeDiscord;
  /** The environment of the test's queue (REDIS_URL, LAB_QUEUE and the `queue` settings). */
  readonly env: Record<string, string>;
  readonly config: DiscordConfig;
  readonly worker: LabWorker;
  readonly runs: RunQueue;
  readonly control: RunControl;
  /** What the notifier and the bots logged. */
  readonly log: MemoryLogger;
  /** The bot started with the stack. */
  readonly bot: LabBot;
  /** Starts another bot on the stack's configuration and queue (stopped by `stop`). */
  startBot(options?: { preview?: ChangePreviewer }): Promise<LabBot>;
  /** Stops the bots, the notifier, the worker, the client, the fake and the homelab. */
  stop(): Promise<void>;
}

export async function startDiscordStack(options: DiscordStackOptions): Promise<DiscordStack> {
  const { roles } = options;
  const log = memoryLogger();
  const bots: LabBot[] = [];
  const started: {
    lab?: Homelab;
    fake?: FakeDiscord;
    worker?: LabWorker;
    runs?: RunQueue;
    notifier?: RunNotifier;
  } = {};
  const stop = async () => {
    for (const bot of bots) await bot.stop();
    await started.notifier?.stop();
    await started.worker?.stop();
    await started.runs?.close();
    await started.fake?.stop();
    await started.lab?.stop();
  };
  try {
    const lab = await startTestHomelab(options.machines);
    started.lab = lab;
    const fake = await FakeDiscord.start({
      roles: [
        { id: roles.operator, name: 'operator' },
        { id: roles.approver, name: 'approver' },
        ...(roles.oncall ? [{ id: roles.oncall, name: 'oncall' }] : []),
      ],
    });
    started.fake = fake;
    const env = queueEnv(options.queue);
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
    const worker = await startWorker(lab, env);
    started.worker = worker;
    const { runs, control } = await queueClient(env);
    started.runs = runs;
    if (options.notifier ?? true) {
      started.notifier = new RunNotifier(runs, config, discordRest(config), log.log);
      started.notifier.start();
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
    return { lab, fake, env, config, worker, runs, control, log, bot, startBot, stop };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}
