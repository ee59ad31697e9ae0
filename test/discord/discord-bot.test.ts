import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscordConfig } from '../../src/discord/discord-config.js';
import { registerCommands } from '../../src/discord/register-commands.js';
import { HealthMonitor } from '../../src/orchestration/monitor/health-monitor.js';
import { monitorConfig } from '../../src/orchestration/monitor/monitor-config.js';
import { MonitorStore } from '../../src/orchestration/monitor/monitor-store.js';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import { TIMELINE_LAYOUT } from '../../src/orchestration/timeline-image.js';
import { loadSshCredentials } from '../../src/transport/ssh/ssh-credentials.js';
import { SshPool } from '../../src/transport/ssh/ssh-pool.js';
import type { Homelab } from '../sim/homelab.js';
import {
  alertOf,
  answerMessage,
  buttonIds,
  buttonLabel,
  runIdOf,
  runMessageOf,
} from '../support/discord-messages.js';
import { type DiscordStack, startDiscordStack } from '../support/discord-stack.js';
import { standardMachines } from '../support/homelabs.js';
import type { MemoryLogger } from '../support/memory-logger.js';
import { waitForEvent } from '../support/queue.js';
import { type FakeDiscord, type FakeMessage, type FakeUser, snowflake } from './fake-discord.js';

let stack: DiscordStack;
let lab: Homelab;
let fake: FakeDiscord;
let runs: RunQueue;
let config: DiscordConfig;
let botLog: MemoryLogger;
const brokenMarker = join(tmpdir(), `lab-discord-web-broken-${process.pid}`);

const role = { operator: snowflake(), approver: snowflake(), oncall: snowflake() };
const user = (username: string, roles: string[]): FakeUser => ({ id: snowflake(), username, roles });
const alice = user('alice', [role.operator, role.approver]);
const bob = user('bob', [role.approver]);
const carol = user('carol', [role.approver]);
const mallory = user('mallory', []);

beforeAll(async () => {
  stack = await startDiscordStack({
    machines: {
      nas: { ...standardMachines.nas, groups: ['storage'] },
      db: { ...standardMachines.db, groups: ['storage'], orchestration: { criticalityLevel: 'critical' } },
      web: {
        ...standardMachines.web,
        // Fails while the marker exists (the machines share /tmp with this process).
        checks: [{ type: 'command', command: `test ! -e ${brokenMarker}` }],
      },
    },
    roles: role,
    queue: { LAB_HEALTH_TIMEOUT: '2' },
  });
  ({ lab, fake, runs, config, log: botLog } = stack);
});

afterAll(async () => {
  rmSync(brokenMarker, { force: true });
  await stack?.stop();
});

/** Polls an asynchronous condition (Redis state) until it holds. */
async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Everything the notifier posted in the thread of a run message, one line each. */
const threadLines = (message: FakeMessage): string[] => {
  const thread = fake.threads.get(message.id);
  return thread ? fake.channelMessages(thread).flatMap((post) => post.content.split('\n')) : [];
};
/** A time in a thread is a Discord timestamp, never a server clock nor a terminal command. */
const expectDiscordTerms = (lines: readonly string[]) => {
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) {
    expect(line).toMatch(/^<t:\d+:T> /);
    expect(line.replace(/<t:\d+:[tTR]>/g, '')).not.toMatch(
      /\d\d:\d\d:\d\d|\blab (approve|deny|retry|skip|abort|cancel)\b/,
    );
  }
};

describe('the Discord bot against the fake Discord API', () => {
  it('registers /lab with its subcommands for the configured guild', async () => {
    expect(await registerCommands(config)).toEqual([fake.guildId]);
    const put = fake.calls.find((call) => call.method === 'PUT');
    expect(put?.path).toBe(`/applications/${fake.applicationId}/guilds/${fake.guildId}/commands`);
    const [lab] = (put?.body ?? []) as { name: string; options: { name: string }[] }[];
    expect(lab?.name).toBe('lab');
    expect(lab?.options.map((option) => option.name)).toEqual([
      'machines',
      'sequence',
      'health',
      'diff',
      'reboot',
      'deploy',
      'power',
      'status',
      'cancel',
      'silence',
      'silences',
      'unsilence',
    ]);
  });

  it('/lab sequence shows the plan as an embed, with approvals and a start button', async () => {
    const record = fake.command(mallory, 'sequence');
    const message = await answerMessage(fake, record, 'the sequence embed');
    expect(record.callbackType).toBe(5);
    const embed = message.embeds[0];
    expect(embed?.title).toBe('Reboot sequence: 3 machines in 3 steps');
    const lines = embed?.description?.split('\n') ?? [];
    expect(lines.map((line) => line.match(/\*\*(\w+)\*\*/)?.[1])).toEqual(['nas', 'db', 'web']);
    expect(lines[1]).toContain('critical · 🔐 2 approvals');
    expect(embed?.fields?.find((field) => field.name === 'Needs approval')?.value).toBe('db');
    expect(buttonIds(message)[0]).toMatch(/^lab:start:[0-9a-f]{12}:all$/);
  });

  it('autocompletes targets from the cached inventory', async () => {
    const record = fake.autocomplete(mallory, 'reboot', 'target', 'st');
    await fake.waitFor(() => record.choices, 10_000, 'autocomplete choices');
    expect(record.callbackType).toBe(8);
    expect(record.choices?.map((choice) => choice.value)).toEqual(['@storage']);
    const all = fake.autocomplete(mallory, 'health', 'target', '');
    await fake.waitFor(() => all.choices, 10_000, 'autocomplete choices');
    expect(all.choices?.map((choice) => choice.value)).toEqual(['all', '@storage', 'db', 'nas', 'web']);
  });

  it('refuses a reboot to someone without the operator role, ephemerally', async () => {
    const record = fake.command(mallory, 'reboot', { target: 'db' });
    await fake.waitFor(() => record.acknowledgedAt, 10_000, 'the refusal');
    expect(record.callbackType).toBe(4);
    expect(record.ephemeral).toBe(true);
    expect(record.original?.content).toBe('You need an operator role to start or steer runs.');
    expect(botLog.messages().some((line) => line.includes('refused /lab reboot for mallory'))).toBe(true);
  });

  it('reboots a critical machine after two distinct approvers click Approve; the run message ends in success', async () => {
    const bootsBefore = lab.bootLog('db').length;
    const record = fake.command(alice, 'reboot', { target: 'db' });
    const reply = await answerMessage(fake, record, 'the reboot reply');
    const runId = runIdOf(reply.content);
    expect(reply.content).toMatch(/^Started reboot run `\w+` of 1 machine \(plan `[0-9a-f]{12}`\)\.$/);

    let message = await runMessageOf(fake, runId);
    message = await fake.waitFor(
      () => (buttonIds(message).some((id) => id.startsWith('lab:approve:')) ? message : null),
      30_000,
      'the approval buttons',
    );
    // db waits for approvers from (at the latest) now.
    const waitingSeen = Date.now();
    expect(message.embeds[0]?.description).toMatch(/🔐 \*\*db\*\* waits for approval: 0\/2/);
    const approve = buttonIds(message).find((id) => id.startsWith(`lab:approve:${runId}:db:`)) as string;
    expect(buttonIds(message)).toContain(`lab:cancel:${runId}`);
    expect(buttonLabel(message, `lab:cancel:${runId}`)).toBe('Cancel run');
    // The thread says when the request expires in every reader's own zone, and no terminal command.
    const waitLine = await fake.waitFor(
      () => threadLines(message).find((line) => line.includes('waits for approval')),
      30_000,
      'the approval request in the thread',
    );
    expect(waitLine).toMatch(
      /^<t:\d+:T> 🔐 \*\*db\*\* waits for approval: 0 of 2, expires <t:\d+:T> \(<t:\d+:R>\)$/,
    );

    const refused = fake.click(mallory, message, approve);
    await fake.waitFor(() => refused.original?.content, 10_000, 'the refusal');
    expect(refused.ephemeral).toBe(true);
    expect(refused.original?.content).toBe('You need an approver role to approve or deny steps.');

    const own = fake.click(alice, message, approve);
    const ownAnswer = await fake.waitFor(() => own.original?.content, 10_000, 'the self-approval refusal');
    expect(ownAnswer).toContain('alice started run');
    expect(ownAnswer).toContain('may not approve it: self-approval is turned off');
    // lab's settings are for whoever runs it, not for Discord users.
    expect(ownAnswer).not.toMatch(/LAB_|DISCORD_/);
    expect(lab.bootLog('db')).toHaveLength(bootsBefore);

    const first = fake.click(bob, message, approve);
    expect(await fake.waitFor(() => first.original?.content, 10_000, 'the first approval')).toBe(
      'Approved db (1 of 2); another approver is needed.',
    );
    const again = fake.click(bob, message, approve);
    expect(await fake.waitFor(() => again.original?.content, 10_000, 'the repeated approval')).toContain(
      'bob has already approved db',
    );
    const approvedBefore = Date.now();
    const second = fake.click(carol, message, approve);
    expect(await fake.waitFor(() => second.original?.content, 10_000, 'the second approval')).toBe(
      `Approved db: run ${runId} goes on.`,
    );

    const final = await fake.waitFor(
      () => (message.embeds[0]?.title?.includes('succeeded') ? message : null),
      60_000,
      'the run message to show success',
    );
    const succeededSeen = Date.now();
    expect(final.embeds[0]?.title).toBe(`Reboot run ${runId} · succeeded`);
    // The run report: db's timeline as text in the embed, and as a picture attached to the message.
    const timeline = final.embeds[0]?.fields?.find((field) => field.name === 'Timeline');
    expect(timeline?.value).toMatch(/^```\ndb\s+\+0:00\s+waited approval [^\n]*· rebooted\n```$/);
    expect((final.embeds[0] as { image?: { url: string } }).image?.url).toBe('attachment://timeline.png');
    expect(final.attachments.map((file) => file.filename)).toEqual(['timeline.png']);
    const picture = PNG.sync.read(final.attachments[0]?.data as Buffer);
    expect([picture.width, picture.height]).toEqual([
      TIMELINE_LAYOUT.width,
      TIMELINE_LAYOUT.top + TIMELINE_LAYOUT.bottom + TIMELINE_LAYOUT.rowHeight,
    ]);
    // How long db was down and until it was healthy, the wait for approvers apart: the reboot
    // started only after the second approval, and the approval wait lasted at least as long as
    // this test took to click.
    const times = final.embeds[0]?.description?.match(
      /✅ \*\*db\*\* rebooted: (?:down ([\d.]+) s, )?healthy ([\d.]+) s after the reboot command · approved by bob, carol after ([\d.]+) s/,
    );
    expect(times, final.embeds[0]?.description).not.toBeNull();
    // (Not down at all is possible: the machine came back between two polls.)
    const [down, healthy, waited] = (times?.slice(1) ?? []).map(Number) as [number, number, number];
    if (!Number.isNaN(down)) expect(down).toBeLessThanOrEqual(healthy);
    expect(healthy).toBeLessThanOrEqual((succeededSeen - approvedBefore) / 1000 + 0.05);
    expect(waited).toBeGreaterThanOrEqual((approvedBefore - waitingSeen) / 1000 - 0.05);
    expectDiscordTerms(threadLines(message));
    expect(final.components).toEqual([]);
    expect(lab.bootLog('db')).toHaveLength(bootsBefore + 1);
    expect(message.edits).toBeGreaterThan(1);
    const thread = fake.calls.find(
      (call) =>
        call.method === 'POST' && call.path === `/channels/${fake.channelId}/messages/${message.id}/threads`,
    );
    expect(thread).toBeDefined();
  });

  it('alerts the on-call role when a step fails, with Retry / Skip / Abort', async () => {
    writeFileSync(brokenMarker, 'broken\n');
    const record = fake.command(alice, 'reboot', { target: 'web' });
    const reply = await answerMessage(fake, record, 'the reboot reply');
    const runId = runIdOf(reply.content);
    const alert = await alertOf(fake, runId);
    expect(alert.embeds[0]?.description).toMatch(
      /^health checks still failing after 2 s: command test ! -e /,
    );
    expect(alert.content).toBe(`<@&${role.oncall}> **web** failed at **health** in reboot run \`${runId}\``);
    expect(alert.embeds[0]?.fields?.find((field) => field.name === 'Failing checks')?.value).toBe(
      `• command test ! -e ${brokenMarker}: exit code 1`,
    );
    const post = fake.calls.find(
      (call) => call.method === 'POST' && (call.body as { content?: string })?.content === alert.content,
    );
    expect((post?.body as { allowed_mentions?: unknown } | undefined)?.allowed_mentions).toEqual({
      parse: [],
      roles: [role.oncall],
    });
    const ids = buttonIds(alert);
    expect(ids.map((id) => id.split(':')[3])).toEqual(['retry', 'skip', 'abort']);
    // Not "Abort" as the run message's button was: that one cancels, this one ends a halted run.
    expect(ids.map((id) => buttonLabel(alert, id))).toEqual(['Retry web', 'Skip web', 'Abort run']);
    const message = await runMessageOf(fake, runId);
    const halted = await fake.waitFor(
      () => threadLines(message).find((line) => line.includes('halted')),
      30_000,
      'the halt in the thread',
    );
    expect(halted).toMatch(
      /^<t:\d+:T> 🚨 run halted: \*\*web\*\* failed at health; decide on the alert by <t:\d+:T> \(<t:\d+:R>\)$/,
    );

    rmSync(brokenMarker, { force: true });
    const retry = fake.click(alice, alert, ids[0] as string);
    expect(await fake.waitFor(() => retry.original?.content, 10_000, 'the retry answer')).toBe(
      `Retrying web: run ${runId} tries the failed step again.`,
    );
    await fake.waitFor(() => message.embeds[0]?.title?.includes('succeeded'), 60_000, 'success after retry');
    await fake.waitFor(() => alert.components.length === 0, 10_000, 'the alert to lose its buttons');
    expect(alert.embeds[0]?.fields?.find((field) => field.name === 'Decided')?.value).toBe('retry by alice');
    expectDiscordTerms(threadLines(message));
  });

  it('a halted run aborted from its alert ends as aborted, naming who aborted it', async () => {
    writeFileSync(brokenMarker, 'broken\n');
    try {
      const record = fake.command(alice, 'reboot', { target: 'web' });
      const runId = runIdOf((await answerMessage(fake, record, 'the reboot reply')).content);
      const alert = await alertOf(fake, runId);
      const abort = buttonIds(alert).find((id) => id.split(':')[3] === 'abort') as string;
      const click = fake.click(alice, alert, abort);
      await fake.waitFor(() => click.original?.content, 10_000, 'the abort answer');
      const message = await runMessageOf(fake, runId);
      await fake.waitFor(
        () => message.embeds[0]?.title?.includes('aborted'),
        30_000,
        'the aborted run message',
      );
      const embed = message.embeds[0];
      expect(embed?.title).toBe(`Reboot run ${runId} · aborted`);
      expect(embed?.color).toBe(0xb91c1c);
      expect(embed?.fields?.find((field) => field.name === 'Aborted')?.value).toBe(
        'aborted by alice after web failed',
      );
      expect(embed?.description).toMatch(/❌ \*\*web\*\* failed at health: /);
      expect(message.components).toEqual([]);
    } finally {
      rmSync(brokenMarker, { force: true });
    }
  });

  it('a run cancelled while its machine is down says the machine rebooted once it is back and healthy', async () => {
    lab.machine('nas').setDelays({ bootMs: 3_000 });
    try {
      const boots = lab.bootLog('nas').length;
      const record = fake.command(alice, 'reboot', { target: 'nas' });
      const runId = runIdOf((await answerMessage(fake, record, 'the reboot reply')).content);
      const message = await runMessageOf(fake, runId);
      await waitForEvent(runs, runId, 'machine.down');
      const cancel = fake.click(alice, message, `lab:cancel:${runId}`);
      await fake.waitFor(() => cancel.original?.content, 10_000, 'the cancel answer');
      await fake.waitFor(
        () => message.embeds[0]?.title?.includes('cancelled'),
        30_000,
        'the cancelled run message',
      );
      const embed = message.embeds[0];
      // Not frozen at "coming back": nas came back with a new boot and was checked healthy.
      expect(embed?.description).toMatch(/✅ \*\*nas\*\* rebooted: down [\d.]+ s/);
      expect(embed?.description).not.toMatch(/coming back/);
      expect(embed?.fields?.find((field) => field.name === 'Cancelled')?.value).toBe('cancelled by alice');
      expect(lab.bootLog('nas')).toHaveLength(boots + 1);
      const thread = await fake.waitFor(
        () =>
          [...fake.messages.values()]
            .filter((posted) => posted.channel_id !== fake.channelId)
            .map((posted) => posted.content)
            .join('\n')
            .match(/run cancelled by alice; rebooted: nas$/m)?.input,
        30_000,
        "the thread's last line",
      );
      expect(thread).toMatch(
        /run cancelling \(cancelled by alice\): nothing new starts; nas is seen to the end first/,
      );
      expect(thread).not.toMatch(/not touched: nas/);
    } finally {
      lab.machine('nas').setDelays({ bootMs: 0 });
    }
  });

  it('cancelling a halted run from its message: the alert names who cancelled it', async () => {
    writeFileSync(brokenMarker, 'broken\n');
    const record = fake.command(alice, 'reboot', { target: 'web' });
    const runId = runIdOf((await answerMessage(fake, record, 'the reboot reply')).content);
    const alert = await alertOf(fake, runId);
    const message = await runMessageOf(fake, runId);
    await fake.waitFor(() => message.embeds[0]?.title?.includes('halted'), 30_000, 'the halted run message');
    const cancel = fake.click(alice, message, `lab:cancel:${runId}`);
    expect(await fake.waitFor(() => cancel.original?.content, 10_000, 'the cancel answer')).toBe(
      `Cancelling run ${runId}: nothing more is started; a machine already rebooting or activating is seen back healthy first.`,
    );
    await fake.waitFor(() => alert.components.length === 0, 30_000, 'the alert to lose its buttons');
    expect(alert.embeds[0]?.fields?.find((field) => field.name === 'Decided')?.value).toBe(
      'run cancelled by alice',
    );
    await fake.waitFor(
      () => message.embeds[0]?.title?.includes('cancelled'),
      30_000,
      'the cancelled message',
    );
    rmSync(brokenMarker, { force: true });
  });

  it('starts the shown plan from the sequence button; Cancel run cancels it; Deny cancels a waiting step', async () => {
    const sequence = fake.command(alice, 'sequence', { target: '@storage' });
    const shown = await answerMessage(fake, sequence, 'the sequence embed');
    const start = buttonIds(shown)[0] as string;
    expect(start).toMatch(/^lab:start:[0-9a-f]{12}:@storage$/);
    const refused = fake.click(bob, shown, start);
    expect(await fake.waitFor(() => refused.original?.content, 10_000, 'the refusal')).toBe(
      'You need an operator role to start or steer runs.',
    );
    const click = fake.click(alice, shown, start);
    const started = await fake.waitFor(() => click.original?.content, 30_000, 'the start answer');
    const runId = started.match(/^Started reboot run (\w+)\.$/)?.[1] as string;
    expect(runId).toBeDefined();
    const message = await runMessageOf(fake, runId);
    // db (critical) waits for approval after nas: Deny there cancels the run with db untouched.
    await fake.waitFor(
      () => buttonIds(message).some((id) => id.startsWith('lab:deny:')),
      60_000,
      'the deny button',
    );
    const dbBoots = lab.bootLog('db').length;
    const deny = fake.click(
      carol,
      message,
      buttonIds(message).find((id) => id.startsWith('lab:deny:')) as string,
    );
    expect(await fake.waitFor(() => deny.original?.content, 10_000, 'the denial')).toBe(
      `Denied db: run ${runId} is cancelled.`,
    );
    await fake.waitFor(
      () => message.embeds[0]?.title?.includes('cancelled'),
      30_000,
      'the cancelled run message',
    );
    expect(message.embeds[0]?.fields?.find((field) => field.name === 'Cancelled')?.value).toBe(
      'db was denied by carol',
    );
    expect(lab.bootLog('db')).toHaveLength(dbBoots);

    // A run waiting for approvers: Cancel run from its message cancels it.
    const reboot = fake.command(alice, 'reboot', { target: 'db' });
    const dbRun = runIdOf((await answerMessage(fake, reboot, 'the reboot reply')).content);
    const dbMessage = await runMessageOf(fake, dbRun);
    await fake.waitFor(
      () => buttonIds(dbMessage).includes(`lab:cancel:${dbRun}`),
      30_000,
      'the cancel button',
    );
    const abort = fake.click(alice, dbMessage, `lab:cancel:${dbRun}`);
    expect(await fake.waitFor(() => abort.original?.content, 10_000, 'the abort answer')).toBe(
      `Cancelling run ${dbRun}: nothing more is started; a machine already rebooting or activating is seen back healthy first.`,
    );
    await fake.waitFor(
      () => dbMessage.embeds[0]?.title?.includes('cancelled'),
      30_000,
      'the aborted run message',
    );
    expect(dbMessage.components).toEqual([]);
    expect(lab.bootLog('db')).toHaveLength(dbBoots);
  });

  it("/lab status shows the monitor's view: healthy counted, a failing machine with its reason and since when, silenced and in-run ones", async () => {
    const monitorOf = async (what: string) => {
      const record = fake.command(bob, 'status');
      const reply = await answerMessage(fake, record, what);
      expect(reply.embeds[0]?.title).toBe('Runs');
      return reply.embeds[1];
    };
    // No monitor has checked anything yet: it says so, and claims nothing about the machines.
    const before = await monitorOf('the status before the monitor');
    expect(before?.title).toBe('Monitor: no checks yet');
    expect(before?.description).not.toMatch(/healthy/);

    writeFileSync(brokenMarker, 'broken\n');
    const store = new MonitorStore(runs.redis, runs.keys);
    const credentials = await loadSshCredentials(
      { keyPath: lab.keyPath, knownHostsPath: lab.knownHostsPath },
      {},
    );
    const monitor = await HealthMonitor.start({
      config: monitorConfig({ LAB_MONITOR_INTERVAL: '1', LAB_MONITOR_FAILURES: '1', LAB_FLAKE: lab.flake }),
      runs: stack.worker.runs,
      readInventory: (flake) => stack.worker.processor.readInventory(flake),
      pool: new SshPool(credentials),
      name: 'discord-status',
    });
    let dbRun: string | undefined;
    try {
      const silenced = fake.command(alice, 'silence', { target: 'nas', duration: '2h', reason: 'disk swap' });
      expect((await answerMessage(fake, silenced, 'the silence')).content).toMatch(/^Silenced nas until /);
      await until(
        async () => {
          const watches = await store.watches();
          return (
            watches.get('db')?.status === 'healthy' &&
            watches.get('web')?.status === 'unhealthy' &&
            (watches.get('nas')?.checks ?? 0) > 0
          );
        },
        30_000,
        'the monitor to check every machine',
      );
      const failingSince = (await store.watch('web'))?.since as number;
      const embed = await monitorOf('the status with the monitor');
      expect(embed?.title).toBe('Monitor: 1 of 3 watched machines healthy');
      const lines = embed?.description?.split('\n') ?? [];
      expect(lines[0]).toBe('**1** healthy · **1** failing · **1** silenced');
      const web = lines.find((line) => line.startsWith('❌ **web**'));
      expect(
        web?.startsWith(
          `❌ **web** unhealthy since <t:${Math.floor(failingSince / 1000)}:R>: command test ! -e ${brokenMarker} (`,
        ),
      ).toBe(true);
      expect(web).toMatch(/\(.+\)$/);
      expect(lines.find((line) => line.includes('**nas**'))).toMatch(
        /^🔕 \*\*nas\*\* silenced until <t:\d+:R> by alice: disk swap$/,
      );
      expect(lines.at(-1)).toMatch(/^Last check <t:\d+:R>$/);
      expect(embed?.description).not.toMatch(/\*\*db\*\*/);

      // A critical reboot of db waits for its approvers, holding db: the monitor leaves it to the run.
      const reboot = fake.command(alice, 'reboot', { target: 'db' });
      dbRun = (await answerMessage(fake, reboot, 'the reboot reply')).content.match(
        /run `(\w+)`/,
      )?.[1] as string;
      await until(async () => (await store.watch('db'))?.run === dbRun, 30_000, 'db held by the run');
      const during = await monitorOf('the status during the run');
      expect(during?.description?.split('\n')).toContain(`🔄 **db** in run \`${dbRun}\``);
      expect(during?.description?.split('\n')[0]).toBe(
        '**0** healthy · **1** failing · **1** in a run · **1** silenced',
      );
    } finally {
      await monitor?.stop();
      rmSync(brokenMarker, { force: true });
      const silence = (await store.silences()).find((one) => one.target === 'nas');
      if (silence) await store.removeSilence(silence.id);
      if (dbRun) {
        const message = await runMessageOf(fake, dbRun);
        await fake.waitFor(
          () => buttonIds(message).includes(`lab:cancel:${dbRun}`),
          30_000,
          'the cancel button',
        );
        fake.click(alice, message, `lab:cancel:${dbRun}`);
        await fake.waitFor(
          () => message.embeds[0]?.title?.includes('cancelled'),
          30_000,
          'the cancelled run',
        );
      }
    }
  });

  it('ignores other guilds', async () => {
    const record = fake.command(alice, 'status', {}, { guildId: snowflake() });
    await fake.waitFor(() => record.acknowledgedAt, 10_000, 'the answer');
    expect(record.ephemeral).toBe(true);
    expect(record.original?.content).toBe('lab is not enabled here.');
  });

  it('acknowledged every interaction within 3 seconds', () => {
    const records = [...fake.interactions.values()];
    expect(records.length).toBeGreaterThan(10);
    for (const record of records) {
      expect(record.acknowledgedAt, `interaction ${record.id}`).not.toBeNull();
      expect((record.acknowledgedAt as number) - record.sentAt).toBeLessThan(3_000);
    }
  });
});
