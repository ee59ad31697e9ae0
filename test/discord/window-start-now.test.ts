import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { Homelab } from '../sim/homelab.js';
import { answerText, buttonIds, buttonLabel, runIdOf, runMessageOf } from '../support/discord-messages.js';
import { type DiscordStack, startDiscordStack } from '../support/discord-stack.js';
import { standardMachines } from '../support/homelabs.js';
import { finishedState } from '../support/queue.js';
import { type FakeDiscord, type FakeUser, snowflake } from './fake-discord.js';

/**
 * /lab reboot … window:wait outside the machine's window, against the fake Discord API with a
 * real worker, redis and a simulated machine: the run message says when the window opens and has
 * a Start now button; an operator's click starts the machine at once.
 */

let stack: DiscordStack;
let lab: Homelab;
let fake: FakeDiscord;
let runs: RunQueue;
const role = { operator: snowflake(), approver: snowflake() };
const alice: FakeUser = { id: snowflake(), username: 'alice', roles: [role.operator] };
const mallory: FakeUser = { id: snowflake(), username: 'mallory', roles: [] };

/** A window that opens in an hour (whole minutes, UTC). */
const opensAt = Math.ceil((Date.now() + 3600_000) / 60_000) * 60_000;
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

beforeAll(async () => {
  stack = await startDiscordStack({
    machines: { nas: standardMachines.nas },
    roles: role,
    queue: { LAB_MAINTENANCE_WINDOW: `${hhmm(opensAt)}-${hhmm(opensAt + 3600_000)} UTC` },
  });
  ({ lab, fake, runs } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

describe('a run waiting for a maintenance window, in Discord', () => {
  it('says when the window opens; Start now starts the machine at once', async () => {
    const reboots = lab.rebootRequests('nas').length;
    const record = fake.command(alice, 'reboot', { target: 'nas', window: 'wait' });
    const reply = await answerText(fake, record, 'the reply', 60_000);
    const runId = runIdOf(reply);
    const message = await runMessageOf(fake, runId);
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
    expect(buttonLabel(message, id)).toBe('Start nas now');
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
