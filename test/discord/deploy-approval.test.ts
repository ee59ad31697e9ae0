import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { Homelab } from '../sim/homelab.js';
import { answerText, buttonIds, runIdOf, runMessageOf } from '../support/discord-messages.js';
import { type DiscordStack, startDiscordStack } from '../support/discord-stack.js';
import { runningSystem } from '../support/on-machine.js';
import { finishedState } from '../support/queue.js';
import { runLabOn } from '../support/run-cli.js';
import { type FakeDiscord, type FakeMessage, type FakeUser, snowflake } from './fake-discord.js';

/**
 * A deploy that needs approval, against the fake Discord API with a real worker, redis and the
 * simulated db: the approval request shows what the deploy changes on db (packages, kernel, a
 * unit), made on db before anything is activated; an Approve after the flake changed is void.
 */

let stack: DiscordStack;
let lab: Homelab;
let fake: FakeDiscord;
let runs: RunQueue;

const role = { operator: snowflake(), approver: snowflake() };
const alice: FakeUser = { id: snowflake(), username: 'alice', roles: [role.operator] };
const bob: FakeUser = { id: snowflake(), username: 'bob', roles: [role.approver] };
const postgres = (port: number) => ({ type: 'tcp' as const, port, unit: 'postgresql.service' });

beforeAll(async () => {
  stack = await startDiscordStack({
    machines: {
      db: {
        role: 'db',
        rebootOrder: 1,
        checks: [{ type: 'tcp', port: 5432 }],
        services: [postgres(5432)],
        orchestration: { criticalityLevel: 'high' },
      },
    },
    roles: role,
    queue: { LAB_APPROVALS_HIGH: '1' },
    runChannel: true,
  });
  ({ lab, fake, runs } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

/** /lab deploy target:db by alice; the run id and its message once db waits for approval with its preview. */
async function deployWaitingForApproval(): Promise<{ runId: string; message: FakeMessage }> {
  const record = fake.command(alice, 'deploy', { target: 'db' });
  const reply = await answerText(fake, record, 'the deploy reply', 180_000);
  const runId = runIdOf(reply);
  expect(reply, reply).toMatch(/^Started deploy run/);
  const message = await runMessageOf(fake, runId, 60_000);
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
    const first = await runLabOn(lab, 'deploy', ['db', '--yes']);
    expect(first.exitCode, first.stderr).toBe(0);
    await lab.configure('db', { packages: { hello: '2.12' }, kernel: '2', services: [postgres(5433)] });
    const before = await runningSystem(lab, 'db');
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
    expect(await runningSystem(lab, 'db')).toBe(before);
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
    expect(await runningSystem(lab, 'db')).toBe(before);
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
    expect(await runningSystem(lab, 'db')).toBe(done.systems?.db);
  }, 300_000);
});
