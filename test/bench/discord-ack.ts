/**
 * Benchmark (not a test): from INTERACTION_CREATE on the gateway to the acknowledgement callback,
 * over 200 `/lab status` commands with 20 in flight, against the fake Discord API with the real
 * discord.js client in a real `lab bot` process and a real redis-server. `npm run bench`; numbers in
 * BENCHMARKS.md.
 */
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { FakeDiscord, snowflake } from '../discord/fake-discord.js';
import { startRedisServer } from '../support/redis-server.js';

const repoRoot = resolve(import.meta.dirname, '../..');
const quick = process.argv.includes('--quick');
const total = quick ? 40 : 200;
const inFlight = 20;
const warmUp = 40;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

const redis = await startRedisServer();
const operator = snowflake();
const fake = await FakeDiscord.start({ roles: [{ id: operator, name: 'operator' }] });
// The bot is the real `lab bot` process (run `npm run build` first): Discord's servers are not in
// the bot's process, and neither is this benchmark's fake of them.
const bot = execa('node', [join(repoRoot, 'dist/cli/main.js'), 'bot'], {
  env: {
    REDIS_URL: redis.url,
    LAB_QUEUE: 'bench',
    DISCORD_TOKEN: 'bench',
    DISCORD_GUILD_IDS: fake.guildId,
    DISCORD_OPERATOR_ROLE_IDS: operator,
    DISCORD_APPROVER_ROLE_IDS: operator,
    DISCORD_API_URL: fake.apiUrl,
    LAB_FLAKE: '/nonexistent',
    LOG_FORMAT: 'json',
  },
  reject: false,
});
let botLog = '';
bot.stderr?.on('data', (chunk: Buffer) => {
  botLog += chunk.toString();
});
try {
  await fake.waitFor(() => botLog.includes('"msg":"ready in'), 30_000, `lab bot to be ready (${botLog})`);
  const user = { id: snowflake(), username: 'bench', roles: [] };
  const latencies: number[] = [];
  let sent = 0;
  async function lane(count: number, record: boolean): Promise<void> {
    while (sent < count) {
      sent += 1;
      const command = fake.command(user, 'status');
      await fake.waitFor(() => command.acknowledgedAt, 10_000, 'an acknowledgement');
      if (record) latencies.push((command.acknowledgedAt as number) - command.sentAt);
      await fake.waitFor(() => command.original?.embeds[0], 10_000, 'the answer');
    }
  }
  // A bot is a long-running process: the first commands after its start (cold code paths, the
  // first Redis round trips) are a warm-up, not counted.
  await Promise.all(Array.from({ length: inFlight }, () => lane(warmUp, false)));
  sent = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, () => lane(total, true)));
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  );
  console.log(
    `Discord acknowledgement, ${total} /lab status with ${inFlight} in flight (after ${warmUp} not counted): ` +
      `p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms, max ${latencies.at(-1)} ms ` +
      `(target p99 ≤ 100 ms); all answered in ${(elapsed / 1000).toFixed(1)} s`,
  );
} finally {
  bot.kill('SIGTERM');
  await bot;
  await fake.stop();
  await redis.stop();
}
