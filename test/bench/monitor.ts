/**
 * Benchmark (not a test) of the monitor on the simulated homelab: N machines (default 50) at a
 * 10 s interval, watched by one `lab worker` process. Measures that process's CPU (the monitor
 * and an idle run worker: an upper bound of the monitor's), the SSH handshakes against the checks
 * made (one connection per machine, reused), and the latency from a service stopping to its
 * alert in (fake) Discord, against interval × threshold + 2 s.
 * Needs root (Linux namespaces), nix and redis-server. `npx tsx test/bench/monitor.ts
 * [--quick] [--machines N] [--window S]`; see BENCHMARKS.md.
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { execa } from 'execa';
import { MonitorStore } from '../../src/orchestration/monitor/monitor-store.js';
import { queueConfig } from '../../src/orchestration/queue/queue-config.js';
import { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import { FakeDiscord, snowflake } from '../discord/fake-discord.js';
import { startHomelab } from '../sim/homelab.js';
import { freePort } from '../support/free-port.js';
import { startRedisServer } from '../support/redis-server.js';

const quick = process.argv.includes('--quick');
const argument = (name: string, fallback: number) => {
  const index = process.argv.indexOf(name);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
};
const MACHINES = argument('--machines', quick ? 5 : 50);
const INTERVAL_S = quick ? 2 : 10;
const FAILURES = 3;
const WINDOW_S = argument('--window', quick ? 10 : 120);
const ALERTS = quick ? 1 : 3;
const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;

console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
await execa('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });

const redis = await startRedisServer();
const bootStarted = Date.now();
const lab = await startHomelab({
  machines: Array.from({ length: MACHINES }, (_, index) => ({
    name: `m${String(index).padStart(2, '0')}`,
    lab: {
      role: 'bench',
      rebootOrder: 1,
      healthChecks: [
        { type: 'tcp', port: 8000 },
        { type: 'http', url: 'http://localhost:8080/health' },
      ],
    },
    services: [
      { type: 'tcp' as const, port: 8000 },
      { type: 'http' as const, port: 8080 },
    ],
  })),
});
console.log(`${MACHINES} simulated machines up in ${((Date.now() - bootStarted) / 1000).toFixed(1)} s`);
const oncall = snowflake();
const alertChannel = snowflake();
const fake = await FakeDiscord.start({ roles: [{ id: oncall, name: 'oncall' }] });
const metricsPort = await freePort();
const env = {
  ...lab.env,
  REDIS_URL: redis.url,
  LAB_QUEUE: 'bench-monitor',
  LAB_FLAKE: lab.flake,
  LAB_NO_CACHE: '1',
  NIX_CONFIG: 'substituters =',
  LAB_MONITOR_INTERVAL: String(INTERVAL_S),
  LAB_MONITOR_FAILURES: String(FAILURES),
  LAB_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
  DISCORD_TOKEN: 'fake-token',
  DISCORD_GUILD_IDS: fake.guildId,
  DISCORD_OPERATOR_ROLE_IDS: oncall,
  DISCORD_APPROVER_ROLE_IDS: oncall,
  DISCORD_ONCALL_ROLE_ID: oncall,
  DISCORD_ALERT_CHANNEL_ID: alertChannel,
  DISCORD_API_URL: fake.apiUrl,
  LOG_LEVEL: 'warn',
};
const worker = execa('node', [cli, 'worker'], { env, reject: false });
const runs = await RunQueue.connect(queueConfig(env), 'bench');
const store = new MonitorStore(runs.redis, runs.keys);
const names = Array.from({ length: MACHINES }, (_, index) => `m${String(index).padStart(2, '0')}`);

try {
  const checks = async () => {
    const watches = await store.watches();
    return names.map((name) => watches.get(name)?.checks ?? 0);
  };
  // Warm up: every machine checked twice (its connection is open from the first check on).
  await until(
    async () => (await checks()).every((count) => count >= 2),
    120_000,
    'every machine checked twice',
  );

  const pid = worker.pid as number;
  const before = {
    cpu: cpuSeconds(pid),
    at: Date.now(),
    checks: (await checks()).reduce((a, b) => a + b, 0),
  };
  await new Promise((resolve) => setTimeout(resolve, WINDOW_S * 1000));
  const after = { cpu: cpuSeconds(pid), at: Date.now(), checks: (await checks()).reduce((a, b) => a + b, 0) };
  const seconds = (after.at - before.at) / 1000;
  const cpuPercent = (100 * (after.cpu - before.cpu)) / seconds;
  const checked = after.checks - before.checks;
  const opened = metricValue(await scrape(metricsPort), 'lab_monitor_ssh_connections_opened_total');
  const totalChecks = (await checks()).reduce((a, b) => a + b, 0);

  // Alert latency: a service stops; the alert's post in Discord.
  const latencies: number[] = [];
  for (let i = 0; i < ALERTS; i++) {
    const machine = names[(i * 7) % names.length] as string;
    const stoppedAt = Date.now();
    lab.machine(machine).stopService(8000);
    const post = await until(
      async () =>
        fake.calls.find(
          (call) =>
            call.method === 'POST' &&
            call.path === `/channels/${alertChannel}/messages` &&
            call.at >= stoppedAt &&
            JSON.stringify(call.body).includes(`**${machine}**`),
        ),
      (INTERVAL_S * (FAILURES + 2) + 10) * 1000,
      `the alert of ${machine}`,
    );
    latencies.push(post.at - stoppedAt);
    lab.machine(machine).startService(8000);
  }

  console.log(`\nmonitor of ${MACHINES} machines, interval ${INTERVAL_S} s, failure threshold ${FAILURES}`);
  console.log(
    `  lab worker CPU over ${seconds.toFixed(0)} s: ${cpuPercent.toFixed(2)} % of one core (target < 5 %), ${checked} checks (${(checked / seconds).toFixed(1)}/s; ideal ${(MACHINES / INTERVAL_S).toFixed(1)}/s)`,
  );
  console.log(
    `  SSH handshakes: ${opened} for ${totalChecks} checks of ${MACHINES} machines (one connection per machine, reused)`,
  );
  console.log(
    `  alert latency (service stopped → alert posted): ${latencies.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ')}; bound ${INTERVAL_S * FAILURES + 2} s`,
  );
} finally {
  worker.kill('SIGTERM');
  await worker;
  await runs.close();
  await fake.stop();
  await lab.stop();
  await redis.stop();
}

/** utime + stime of the process, in seconds (from /proc/<pid>/stat, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function scrape(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

function metricValue(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : Number.NaN;
}

async function until<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
