import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiscordConfig, discordConfig } from '../../src/discord/discord-config.js';
import { LabBot } from '../../src/discord/lab-bot.js';
import { discordRest } from '../../src/discord/register-commands.js';
import { RunNotifier } from '../../src/discord/run-notifier.js';
import { RunControl } from '../../src/orchestration/queue/run-control.js';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { LabWorker } from '../../src/orchestration/queue/run-worker.js';
import { type Homelab, sshArgs, startHomelab } from '../sim/homelab.js';
import { memoryLogger } from '../support/memory-logger.js';
import { finishedState, queueClient, queueEnv, startWorker } from '../support/queue.js';
import { runLab } from '../support/run-cli.js';
import {
  FakeDiscord,
  type FakeMessage,
  type FakeUser,
  type InteractionRecord,
  snowflake,
} from './fake-discord.js';

/**
 * A deploy that needs approval, against the fake Discord API with a real worker, redis and the
 * simulated db: the approval request shows what the deploy changes on db (packages, kernel, a
 * unit), made on db before anything is activated; an Approve after the flake changed is void.
 */

let lab: Homelab;
let fake: FakeDiscord;
let worker: LabWorker;
let runs: RunQueue;
let bot: LabBot;
let notifier: RunNotifier;
let config: DiscordConfig;
const log = memoryLogger();

const role = { operator: snowflake(), approver: snowflake() };
const alice: FakeUser = { id: snowflake(), username: 'alice', roles: [role.operator] };
const bob: FakeUser = { id: snowflake(), username: 'bob', roles: [role.approver] };
const postgres = (port: number) => ({ type: 'tcp' as const, port, unit: 'postgresql.service' });

beforeAll(async () => {
  lab = await startHomelab({
    bootTimeMs: 200,
    machines: [
      {
        name: 'db',
        lab: {
          role: 'db',
          rebootOrder: 1,
          healthChecks: [{ type: 'tcp', port: 5432 }],
          orchestration: { rebootDelay: 0, criticalityLevel: 'high' },
        },
        services: [postgres(5432)],
      },
    ],
  });
  fake = await FakeDiscord.start({
    roles: [
      { id: role.operator, name: 'operator' },
      { id: role.approver, name: 'approver' },
    ],
  });
  const env = queueEnv({ LAB_APPROVALS_HIGH: '1' });
  config = discordConfig({
    DISCORD_TOKEN: 'fake-token',
    DISCORD_APPLICATION_ID: fake.applicationId,
    DISCORD_GUILD_IDS: fake.guildId,
    DISCORD_OPERATOR_ROLE_IDS: role.operator,
    DISCORD_APPROVER_ROLE_IDS: role.approver,
    DISCORD_API_URL: fake.apiUrl,
    DISCORD_CHANNEL_ID: fake.channelId,
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

const answer = (record: InteractionRecord, what: string) =>
  fake.waitFor(() => record.original?.content || null, 180_000, what);
const runMessageOf = (runId: string) =>
  fake.waitFor(
    () => fake.channelMessages().find((message) => message.embeds[0]?.title?.includes(`run ${runId}`)),
    60_000,
    `the run message of ${runId}`,
  );
const buttonIds = (message: FakeMessage) =>
  message.components.flatMap((row) => row.components.map((component) => component.custom_id ?? ''));
const runningSystem = async (name: string) =>
  (
    await execa('ssh', [
      ...sshArgs(lab.keyPath, lab.knownHostsPath, lab.machine(name)),
      'readlink -f /run/current-system',
    ])
  ).stdout;

/** /lab deploy target:db by alice; the run id and its message once db waits for approval with its preview. */
async function deployWaitingForApproval(): Promise<{ runId: string; message: FakeMessage }> {
  const record = fake.command(alice, 'deploy', { target: 'db' });
  const reply = await answer(record, 'the deploy reply');
  const runId = reply.match(/run `(\w+)`/)?.[1] as string;
  expect(reply, reply).toMatch(/^Started deploy run/);
  const message = await runMessageOf(runId);
  await fake.waitFor(
    () =>
      buttonIds(message).some((id) => id.startsWith(`lab:approve:${runId}:db:`)) &&
      message.embeds[0]?.fields?.some((field) => field.name === 'What the deploy changes on db')
        ? message
        : null,
    180_000,
    'the approval request with its change preview',
  );
  return { runId, message };
}

describe('deploy approvals show the change preview, bound to it', () => {
  it('the approval request names the package, kernel and unit changes; after the flake changes, an old Approve is void', async () => {
    // db runs a system lab deployed; the next one changes hello, the kernel and postgresql's unit.
    await lab.configure('db', { packages: { hello: '2.10' } });
    const first = await runLab(
      ['deploy', 'db', '--yes', '--flake', lab.flake, '--nix-option', 'substituters='],
      lab.env,
    );
    expect(first.exitCode, first.stderr).toBe(0);
    await lab.configure('db', { packages: { hello: '2.12' }, kernel: '2', services: [postgres(5433)] });
    const before = await runningSystem('db');
    const activations = lab.activations('db').length;

    const { runId, message } = await deployWaitingForApproval();
    const fields = message.embeds[0]?.fields ?? [];
    const changes = fields.find((field) => field.name === 'What the deploy changes on db')?.value ?? '';
    expect(changes).toContain('hello 2.10 → 2.12');
    expect(changes).toContain('linux 1 → 2');
    expect(changes).toContain('reboot needed: kernel, initrd, kernel-modules change');
    expect(changes).toContain('units restarted: postgresql.service');
    const digest = fields.find((field) => field.name === 'Preview')?.value;
    expect(digest).toMatch(/^`[0-9a-f]{16}`$/);
    // Previewed on db, nothing activated.
    expect(await runningSystem('db')).toBe(before);
    expect(lab.activations('db')).toHaveLength(activations);

    // The flake changes (another hello): the Approve of the preview above is void.
    await lab.configure('db', { packages: { hello: '2.14' }, kernel: '2', services: [postgres(5433)] });
    const approve = buttonIds(message).find((id) => id.startsWith(`lab:approve:${runId}:db:`)) as string;
    const click = fake.click(bob, message, approve);
    const refusal = await fake.waitFor(() => click.original?.content, 180_000, 'the answer to the Approve');
    expect(click.ephemeral).toBe(true);
    expect(refusal).toContain(`the flake changed since the change preview of db (${digest?.slice(1, -1)})`);
    expect(refusal).toContain("bob's approval is void");
    expect(refusal).toContain('deploy again to see what it would change now');
    // And the run says so: cancelled with the reason, db untouched.
    const state = await finishedState(runs, runId, 60_000);
    expect(state.status).toBe('cancelled');
    expect(state.cancelReason).toContain("bob's approval is void");
    await fake.waitFor(
      () => (message.embeds[0]?.title?.includes('cancelled') ? message : null),
      30_000,
      'the run message to show the cancel',
    );
    expect(message.embeds[0]?.fields?.find((field) => field.name === 'Cancelled')?.value).toContain(
      'the flake changed since the change preview of db',
    );
    expect(await runningSystem('db')).toBe(before);
    expect(lab.activations('db')).toHaveLength(activations);

    // Deployed again (postgresql back on the port its check looks at): the new preview, approved
    // while the flake stays as it is, is carried out.
    await lab.configure('db', { packages: { hello: '2.14' }, kernel: '2', services: [postgres(5432)] });
    const again = await deployWaitingForApproval();
    const newDigest = again.message.embeds[0]?.fields?.find((field) => field.name === 'Preview')?.value;
    expect(newDigest).not.toBe(digest);
    expect(
      again.message.embeds[0]?.fields?.find((field) => field.name === 'What the deploy changes on db')?.value,
    ).toContain('hello 2.10 → 2.14');
    const approveAgain = buttonIds(again.message).find((id) =>
      id.startsWith(`lab:approve:${again.runId}:db:`),
    );
    const ok = fake.click(bob, again.message, approveAgain as string);
    expect(await fake.waitFor(() => ok.original?.content, 180_000, 'the approval')).toBe(
      `Approved db: run ${again.runId} goes on.`,
    );
    const done = await finishedState(runs, again.runId, 120_000);
    expect(done.status).toBe('succeeded');
    expect(await runningSystem('db')).toBe(done.systems?.db);
  }, 300_000);
});
