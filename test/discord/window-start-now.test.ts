import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discordConfig } from '../../src/discord/discord-config.js';
import { LabBot } from '../../src/discord/lab-bot.js';
import { discordRest } from '../../src/discord/register-commands.js';
import { RunNotifier } from '../../src/discord/run-notifier.js';
import { RunControl } from '../../src/orchestration/queue/run-control.js';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { LabWorker } from '../../src/orchestration/queue/run-worker.js';
import type { Homelab } from '../sim/homelab.js';
import { standardMachines, startTestHomelab } from '../support/homelabs.js';
import { memoryLogger } from '../support/memory-logger.js';
import { finishedState, queueClient, queueEnv, startWorker } from '../support/queue.js';
import { FakeDiscord, type FakeMessage, type FakeUser, snowflake } from './fake-discord.js';

/**
 * /lab reboot … window:wait outside the machine's window, against the fake Discord API with a
 * real worker, redis and a simulated machine: the run message says when the window opens and has
 * a Start now button; an operator's click starts the machine at once.
 */

let lab: Homelab;
let fake: FakeDiscord;
let worker: LabWorker;
let runs: RunQueue;
let bot: LabBot;
let notifier: RunNotifier;
const log = memoryLogger();
const role = { operator: snowflake(), approver: snowflake() };
const alice: FakeUser = { id: snowflake(), username: 'alice', roles: [role.operator] };
const mallory: FakeUser = { id: snowflake(), username: 'mallory', roles: [] };

/** A window that opens in an hour (whole minutes, UTC). */
const opensAt = Math.ceil((Date.now() + 3600_000) / 60_000) * 60_000;
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

beforeAll(async () => {
  lab = await startTestHomelab({ nas: standardMachines.nas });
  fake = await FakeDiscord.start({
    roles: [
      { id: role.operator, name: 'operator' },
      { id: role.approver, name: 'approver' },
    ],
  });
  const env = queueEnv({ LAB_MAINTENANCE_WINDOW: `${hhmm(opensAt)}-${hhmm(opensAt + 3600_000)} UTC` });
  const config = discordConfig({
    DISCORD_TOKEN: 'fake-token',
    DISCORD_APPLICATION_ID: fake.applicationId,
    DISCORD_GUILD_IDS: fake.guildId,
    DISCORD_OPERATOR_ROLE_IDS: role.operator,
    DISCORD_APPROVER_ROLE_IDS: role.approver,
    DISCORD_API_URL: fake.apiUrl,
    DISCORD_EDIT_INTERVAL_MS: '100',
    LAB_FLAKE: lab.flake,
  });
  worker = await startWorker(lab, env);
  ({ runs } = await queueClient(env));
  notifier = new RunNotifier(runs, config, discordRest(config), log.log);
  notifier.start();
  bot = new LabBot(config, runs, new RunControl(runs), log.log);
  await bot.start();
});

afterAll(async () => {
  await bot?.stop();
  await notifier?.stop();
  await worker?.stop();
  await runs?.close();
  await fake?.stop();
  await lab?.stop();
});

const buttonIds = (message: FakeMessage) =>
  message.components.flatMap((row) => row.components.map((component) => component.custom_id ?? ''));

describe('a run waiting for a maintenance window, in Discord', () => {
  it('says when the window opens; Start now starts the machine at once', async () => {
    const reboots = lab.rebootRequests('nas').length;
    const record = fake.command(alice, 'reboot', { target: 'nas', window: 'wait' });
    const reply = await fake.waitFor(() => record.original?.content || null, 60_000, 'the reply');
    const runId = reply.match(/run `(\w+)`/)?.[1] as string;
    const message = await fake.waitFor(
      () => fake.channelMessages().find((m) => m.embeds[0]?.title?.includes(`run ${runId}`)),
      30_000,
      'the run message',
    );
    const startNow = `lab:start-now:${runId}:nas:`;
    await fake.waitFor(
      () => (buttonIds(message).some((id) => id.startsWith(startNow)) ? message : null),
      30_000,
      'the Start now button',
    );
    expect(message.embeds[0]?.description).toContain(
      `🕰️ **nas** waits for its window, opens <t:${opensAt / 1000}:R>`,
    );
    const id = buttonIds(message).find((button) => button.startsWith(startNow)) as string;
    expect(message.components.flatMap((row) => row.components).find((c) => c.custom_id === id)?.label).toBe(
      'Start nas now',
    );
    expect(lab.rebootRequests('nas')).toHaveLength(reboots);

    const refused = fake.click(mallory, message, id);
    expect(await fake.waitFor(() => refused.original?.content, 10_000, 'the refusal')).toBe(
      'You need an operator role to start or steer runs.',
    );
    const click = fake.click(alice, message, id);
    expect(await fake.waitFor(() => click.original?.content, 10_000, 'the answer')).toBe(
      `Starting nas now, outside its maintenance window: run ${runId} goes on with it.`,
    );
    expect(click.ephemeral).toBe(true);
    const state = await finishedState(runs, runId, 60_000);
    expect(state.status).toBe('succeeded');
    expect(state.progress.nas?.windowForcedBy).toBe('alice');
    expect(lab.rebootRequests('nas')).toHaveLength(reboots + 1);
    expect(lab.rebootRequests('nas').at(-1)?.at).toBeLessThan(opensAt);
  });
});
