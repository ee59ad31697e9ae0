import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MonitorStore } from '../../src/orchestration/monitor/monitor-store.js';
import { queueConfig } from '../../src/orchestration/queue/queue-config.js';
import { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { Homelab } from '../sim/homelab.js';
import { freePort } from '../support/free-port.js';
import { monitoredMachines, startTestHomelab } from '../support/homelabs.js';
import { type ServeProcess, startServe } from '../support/lab-serve.js';
import { queueEnv } from '../support/queue.js';
import { FakeDiscord, type FakeMessage, snowflake } from './fake-discord.js';

let lab: Homelab;
let fake: FakeDiscord;
let runs: RunQueue;
let store: MonitorStore;
let serve: ServeProcess | undefined;
const role = { operator: snowflake(), approver: snowflake(), oncall: snowflake() };
const alice = { id: snowflake(), username: 'alice', roles: [role.operator] };
const bob = { id: snowflake(), username: 'bob', roles: [role.approver] };
const alertChannel = snowflake();
let env: Record<string, string>;

beforeAll(async () => {
  lab = await startTestHomelab({
    db: monitoredMachines.db,
    web: { ...monitoredMachines.web, orchestration: { criticalityLevel: 'high' } },
  });
  fake = await FakeDiscord.start({
    roles: [
      { id: role.operator, name: 'operator' },
      { id: role.approver, name: 'approver' },
      { id: role.oncall, name: 'oncall' },
    ],
  });
  env = {
    ...queueEnv(),
    ...lab.env,
    LAB_NO_CACHE: '1',
    LAB_MONITOR_FAILURES: '2',
    LAB_MONITOR_SUCCESSES: '2',
    DISCORD_TOKEN: 'fake-token',
    DISCORD_GUILD_IDS: fake.guildId,
    DISCORD_OPERATOR_ROLE_IDS: role.operator,
    DISCORD_APPROVER_ROLE_IDS: role.approver,
    DISCORD_ONCALL_ROLE_ID: role.oncall,
    DISCORD_CHANNEL_ID: fake.channelId,
    DISCORD_ALERT_CHANNEL_ID: alertChannel,
    DISCORD_API_URL: fake.apiUrl,
    DISCORD_EDIT_INTERVAL_MS: '100',
    LAB_FLAKE: lab.flake,
    LAB_METRICS_LISTEN: `127.0.0.1:${await freePort()}`,
  };
  runs = await RunQueue.connect(queueConfig(env), 'test-monitor-alerts');
  store = new MonitorStore(runs.redis, runs.keys);
  serve = await startServe(fake, env);
});

afterAll(async () => {
  serve?.process.kill('SIGKILL');
  await serve?.process.catch(() => {});
  await runs?.close();
  await fake?.stop();
  await lab?.stop();
});

/** The monitor's messages about a machine in the alert channel (alerts and replies). */
const aboutMachine = (machine: string) =>
  fake.channelMessages(alertChannel).filter((message) => message.content.includes(`**${machine}**`));
const alertsOf = (machine: string) =>
  aboutMachine(machine).filter((message) => message.message_reference === undefined);

async function checksOf(machine: string): Promise<number> {
  return (await store.watch(machine))?.checks ?? 0;
}

async function moreChecks(machine: string, count: number): Promise<void> {
  const from = await checksOf(machine);
  const deadline = Date.now() + 30_000;
  while ((await checksOf(machine)) < from + count) {
    if (Date.now() > deadline) throw new Error(`the monitor did not check ${machine} ${count} more times`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const button = (message: FakeMessage, label: string) =>
  message.components.flatMap((row) => row.components).find((component) => component.label === label);

describe('monitor alerts in Discord (lab serve, simulated machines, fake Discord)', () => {
  it('a stopped service: one alert after the threshold (rate-limited first, not lost), none again after a restart, recovery when it is back', async () => {
    await fake.waitFor(() => serve?.stderr().includes('monitor: '), 30_000, 'the monitor');
    await moreChecks('db', 1);
    // Discord rate-limits the first two posts: the alert comes a little later, once.
    fake.failPosts(2, 429, 0.3);
    const stoppedAt = Date.now();
    lab.machine('db').stopService(5432);
    const alert = await fake.waitFor(() => alertsOf('db')[0], 30_000, 'the alert of db');
    expect(alert.content).toMatch(
      new RegExp(`^<@&${role.oncall}> \\*\\*db\\*\\* is unhealthy since <t:\\d+:R>$`),
    );
    expect(alert.allowed_mentions).toEqual({ parse: [], roles: [role.oncall] });
    expect(alert.embeds[0]?.fields).toEqual([
      { name: 'Failing checks', value: expect.stringMatching(/^• tcp 5432: .+/) },
    ]);
    expect(alert.embeds[0]?.description).toMatch(/^Failing since <t:\d+:R>/);
    const since = Number(/<t:(\d+):R>/.exec(alert.content)?.[1]) * 1000;
    expect(since).toBeGreaterThanOrEqual(Math.floor(stoppedAt / 1000) * 1000);
    expect(alert.components.flatMap((row) => row.components.map((component) => component.label))).toEqual([
      'Reboot db',
      'Silence 1 h',
      'Check now',
    ]);
    expect(
      fake.calls.filter(
        (call) => call.method === 'POST' && call.path === `/channels/${alertChannel}/messages`,
      ).length,
    ).toBe(3);

    // Check now answers with the check's result, for anyone who may view.
    const check = fake.click(alice, alert, button(alert, 'Check now')?.custom_id as string);
    const answer = await fake.waitFor(() => check.original?.content, 30_000, 'the check');
    expect(check.ephemeral).toBe(true);
    expect(answer).toMatch(
      /^db: health checks still failing: tcp 5432 \(.+\)\. The monitor has it unhealthy\.$/,
    );

    // lab serve is killed and started again while db is still down: no second alert.
    serve?.process.kill('SIGKILL');
    await serve?.process;
    serve = await startServe(fake, env);
    await moreChecks('db', 3);
    expect(alertsOf('db')).toHaveLength(1);

    lab.machine('db').startService(5432);
    await fake.waitFor(
      () => alertsOf('db')[0]?.embeds[0]?.title === 'db recovered',
      30_000,
      'the recovery edit',
    );
    const edited = alertsOf('db')[0] as FakeMessage;
    expect(edited.components).toEqual([]);
    expect(edited.embeds[0]?.description).toMatch(/^Down [\d.]+ s: failing from <t:\d+:T> to <t:\d+:T>\.$/);
    const reply = await fake.waitFor(
      () => aboutMachine('db').find((message) => message.message_reference?.message_id === alert.id),
      30_000,
      'the recovery reply',
    );
    expect(reply.content).toMatch(/^✅ \*\*db\*\* recovered after [\d.]+ s\.$/);
    expect(reply.allowed_mentions).toEqual({ parse: [] });
  });

  it("the alert's Reboot starts a reboot run with the machine's approvals; the run fixes it, no monitor alert meanwhile", async () => {
    lab.machine('web').stopService(8080);
    const alert = await fake.waitFor(() => alertsOf('web')[0], 30_000, 'the alert of web');
    const bootsBefore = lab.bootLog('web').length;
    const click = fake.click(alice, alert, button(alert, 'Reboot web')?.custom_id as string);
    const answer = await fake.waitFor(() => click.original?.content, 30_000, 'the answer');
    expect(answer).toMatch(
      /^Started reboot run `\w+` of web\. web is high: the reboot waits for an approval\.$/,
    );
    const runId = /run `(\w+)`/.exec(answer)?.[1] as string;
    const runMessage = await fake.waitFor(
      () =>
        fake
          .channelMessages()
          .find((m) => m.embeds[0]?.title?.includes(`run ${runId}`) && button(m, 'Approve web')),
      30_000,
      'the run waiting for approval',
    );
    fake.click(bob, runMessage, button(runMessage, 'Approve web')?.custom_id as string);
    await fake.waitFor(
      () => alertsOf('web')[0]?.embeds[0]?.title === 'web recovered',
      60_000,
      'the recovery',
    );
    expect(lab.bootLog('web')).toHaveLength(bootsBefore + 1);
    expect(alertsOf('web')).toHaveLength(1);
    const record = await runs.run(runId);
    expect(record.data.state.status).toBe('succeeded');
  });

  it('a silence from /lab silence holds the alert back; /lab silences shows it; once removed, the recent incident reopens without paging again', async () => {
    const silenced = fake.command(alice, 'silence', {
      target: 'db',
      duration: '2h',
      reason: 'replacing its disk',
    });
    const reply = await fake.waitFor(() => silenced.original?.content, 30_000, 'the silence');
    expect(reply).toMatch(/^Silenced db until <t:\d+:t> \(2h\): replacing its disk\. Silence `(\w+)`/);
    const before = alertsOf('db').length;
    lab.machine('db').stopService(5432);
    await moreChecks('db', 4);
    expect((await store.watch('db'))?.status).toBe('unhealthy');
    expect(alertsOf('db')).toHaveLength(before);

    const list = fake.command(alice, 'silences');
    const shown = await fake.waitFor(() => list.original?.embeds[0]?.description, 30_000, 'the silences');
    expect(shown).toMatch(/^`\w+` \*\*db\*\* until <t:\d+:t> \(<t:\d+:R>\), by alice: replacing its disk$/);
    const listed = list.original as FakeMessage;
    fake.click(alice, listed, listed.components[0]?.components[0]?.custom_id as string);
    // db recovered a moment ago (the first test): failing again within the flap window reopens
    // that incident's alert, with a reply that pings nobody, instead of paging again.
    const first = alertsOf('db')[0] as FakeMessage;
    const reopened = await fake.waitFor(
      () =>
        aboutMachine('db').find(
          (m) => m.message_reference?.message_id === first.id && m.content.includes('failing again'),
        ),
      30_000,
      'the reopening once the silence is removed',
    );
    expect(reopened.allowed_mentions).toEqual({ parse: [] });
    expect(alertsOf('db')).toHaveLength(before);
    expect(alertsOf('db')[0]?.embeds[0]?.title).toBe('db is unhealthy');
    expect(alertsOf('db')[0]?.content).not.toContain(`<@&${role.oncall}>`);
    lab.machine('db').startService(5432);
  });

  it('serves Prometheus metrics that promtool accepts: machines, checks, runs, durations, queues', async () => {
    const response = await fetch(`http://${env.LAB_METRICS_LISTEN}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const lint = await execa('promtool', ['check', 'metrics'], { input: text, reject: false });
    expect({ exitCode: lint.exitCode, output: `${lint.stdout}${lint.stderr}` }).toEqual({
      exitCode: 0,
      output: '',
    });
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    expect(value('lab_machine_up{machine="web"}')).toBe(1);
    expect(value('lab_machine_healthy{machine="web"}')).toBe(1);
    expect(value('lab_machine_monitor_status{machine="web",status="healthy"}')).toBe(1);
    expect(value('lab_health_check_up{machine="web",check="http http://localhost:8080/health"}')).toBe(1);
    expect(
      value('lab_health_check_latency_seconds{machine="web",check="http http://localhost:8080/health"}'),
    ).toBeGreaterThan(0);
    // The reboot run of web (the second test) ran in this lab serve.
    expect(value('lab_runs_finished_total{kind="reboot",status="succeeded"}')).toBe(1);
    expect(value('lab_run_duration_seconds_count{kind="reboot",status="succeeded"}')).toBe(1);
    expect(value('lab_machine_step_duration_seconds_count{kind="reboot",what="rebooted"}')).toBe(1);
    expect(value('lab_queue_jobs{queue="monitor",state="delayed"}')).toBeGreaterThanOrEqual(1);
    expect(value('lab_queue_jobs{queue="runs",state="active"}')).toBe(0);
    // One connection per machine, reused: far fewer handshakes than checks.
    expect(value('lab_monitor_ssh_connections_opened_total')).toBeLessThanOrEqual(6);
    expect(await checksOf('web')).toBeGreaterThan(10);
  });
});
