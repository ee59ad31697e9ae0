/**
 * Benchmark (not a test): from INTERACTION_CREATE on the gateway to the acknowledgement callback,
 * over 200 `/lab status` commands with 20 in flight, against the fake Discord API with the real
 * discord.js client and a real redis-server. `npm run bench`; numbers in BENCHMARKS.md.
 */
import { cpus, totalmem } from 'node:os';
import { silentLogger } from '../../src/cli/logger.js';
import { discordConfig } from '../../src/discord/discord-config.js';
import { LabBot } from '../../src/discord/lab-bot.js';
import { queueConfig } from '../../src/orchestration/queue/queue-config.js';
import { RunControl } from '../../src/orchestration/queue/run-control.js';
import { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import { FakeDiscord, snowflake } from '../discord/fake-discord.js';
import { startRedisServer } from '../support/redis-server.js';

const quick = process.argv.includes('--quick');
const total = quick ? 40 : 200;
const inFlight = 20;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

const redis = await startRedisServer();
const operator = snowflake();
const fake = await FakeDiscord.start({ roles: [{ id: operator, name: 'operator' }] });
const runs = await RunQueue.connect(queueConfig({ REDIS_URL: redis.url, LAB_QUEUE: 'bench' }));
const bot = new LabBot(
  discordConfig({
    DISCORD_TOKEN: 'bench',
    DISCORD_GUILD_IDS: fake.guildId,
    DISCORD_OPERATOR_ROLE_IDS: operator,
    DISCORD_APPROVER_ROLE_IDS: operator,
    DISCORD_API_URL: fake.apiUrl,
    LAB_FLAKE: '/nonexistent',
  }),
  runs,
  new RunControl(runs),
  silentLogger,
);
try {
  await bot.start();
  const user = { id: snowflake(), username: 'bench', roles: [] };
  const latencies: number[] = [];
  let sent = 0;
  const started = performance.now();
  async function lane(): Promise<void> {
    while (sent < total) {
      sent += 1;
      const record = fake.command(user, 'status');
      await fake.waitFor(() => record.acknowledgedAt, 10_000, 'an acknowledgement');
      latencies.push((record.acknowledgedAt as number) - record.sentAt);
      await fake.waitFor(() => record.original?.embeds[0], 10_000, 'the answer');
    }
  }
  await Promise.all(Array.from({ length: inFlight }, lane));
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  );
  console.log(
    `Discord acknowledgement, ${total} /lab status with ${inFlight} in flight: ` +
      `p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms, max ${latencies.at(-1)} ms ` +
      `(target p99 ≤ 100 ms); all answered in ${(elapsed / 1000).toFixed(1)} s`,
  );
} finally {
  await bot.stop();
  await runs.close();
  await fake.stop();
  await redis.stop();
}
