import { afterAll, beforeAll, expect, it } from 'vitest';
import { discordConfig } from '../../src/discord/discord-config.js';
import { LabBot } from '../../src/discord/lab-bot.js';
import { RunControl } from '../../src/orchestration/queue/run-control.js';
import { queueClient, queueEnv } from '../support/queue.js';
import { FakeDiscord, snowflake } from './fake-discord.js';

let fake: FakeDiscord;
let bot: LabBot;
let close: () => Promise<void>;
const viewer = { id: snowflake(), username: 'vic', roles: [] as string[] };

beforeAll(async () => {
  const roles = [
    { id: snowflake(), name: 'operator' },
    { id: snowflake(), name: 'approver' },
  ];
  fake = await FakeDiscord.start({ roles });
  const env = queueEnv();
  const { runs } = await queueClient(env);
  const config = discordConfig({
    DISCORD_TOKEN: 'fake-token',
    DISCORD_GUILD_IDS: fake.guildId,
    DISCORD_OPERATOR_ROLE_IDS: roles[0]!.id,
    DISCORD_APPROVER_ROLE_IDS: roles[1]!.id,
    DISCORD_API_URL: fake.apiUrl,
    LAB_FLAKE: '/nonexistent',
  });
  const lines: string[] = [];
  bot = new LabBot(config, runs, new RunControl(runs), (line) => lines.push(line));
  await bot.start();
  close = async () => {
    await bot.stop();
    await runs.close();
  };
});

afterAll(async () => {
  await close?.();
  await fake?.stop();
});

it('answers /lab status through the fake API', async () => {
  const record = fake.command(viewer, 'status');
  await fake.waitFor(() => record.original?.embeds[0], 10_000, 'the status reply');
  expect(record.callbackType).toBe(5);
  expect(record.original?.embeds[0]?.title).toBe('Runs');
  expect(record.original?.embeds[0]?.description).toBe('No runs.');
});
