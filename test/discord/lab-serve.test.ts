import type { ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Homelab } from '../sim/homelab.js';
import { gatedNix } from '../support/flake-fixtures.js';
import { standardMachines, startTestHomelab } from '../support/homelabs.js';
import { startServe } from '../support/lab-serve.js';
import { jsonLogEntries } from '../support/memory-logger.js';
import { queueClient, queueEnv } from '../support/queue.js';
import { FakeDiscord, snowflake } from './fake-discord.js';

let lab: Homelab;
let fake: FakeDiscord;
let serve: ResultPromise | undefined;
const operator = snowflake();
const alice = { id: snowflake(), username: 'alice', roles: [operator] };

beforeAll(async () => {
  lab = await startTestHomelab({
    nas: standardMachines.nas,
    web: { role: 'web', rebootOrder: 2, orchestration: { rebootDelay: 4 } },
  });
  fake = await FakeDiscord.start({ roles: [{ id: operator, name: 'operator' }] });
});

afterAll(async () => {
  serve?.kill('SIGKILL');
  await serve?.catch(() => {});
  await fake?.stop();
  await lab?.stop();
});

/** Environment of `lab serve` for this test's queue, homelab and fake Discord. */
function serveEnv(): Record<string, string> {
  return {
    ...queueEnv(),
    ...lab.env,
    LAB_NO_CACHE: '1',
    DISCORD_TOKEN: 'fake-token',
    DISCORD_GUILD_IDS: fake.guildId,
    DISCORD_OPERATOR_ROLE_IDS: operator,
    DISCORD_APPROVER_ROLE_IDS: operator,
    DISCORD_API_URL: fake.apiUrl,
    DISCORD_EDIT_INTERVAL_MS: '100',
    LAB_FLAKE: lab.flake,
  };
}

describe('lab serve', () => {
  it('killed mid-run and started again, finishes the run in the same run message', async () => {
    const env = { ...serveEnv(), LAB_QUEUE: `serve-${snowflake()}` };
    const first = await startServe(fake, env);
    serve = first.process;
    const bootsBefore = lab.bootLog('web').length;
    const record = fake.command(alice, 'reboot', { target: 'web' });
    const reply = await fake.waitFor(() => record.original?.content, 30_000, 'the reply');
    const runId = reply.match(/run `(\w+)`/)?.[1] as string;
    const runMessages = () =>
      fake.channelMessages().filter((m) => m.embeds[0]?.title?.includes(`run ${runId}`));
    await fake.waitFor(
      () => runMessages()[0]?.embeds[0]?.description?.includes('waits its rebootDelay'),
      30_000,
      'the delay',
    );
    first.process.kill('SIGKILL');
    await first.process;
    expect(lab.bootLog('web')).toHaveLength(bootsBefore);

    const second = await startServe(fake, env);
    serve = second.process;
    await fake.waitFor(
      () => runMessages()[0]?.embeds[0]?.title === `Reboot run ${runId} · succeeded`,
      60_000,
      'the same message to show success',
    );
    expect(runMessages()).toHaveLength(1);
    expect(lab.bootLog('web')).toHaveLength(bootsBefore + 1);
    second.process.kill('SIGTERM');
    expect((await second.process).exitCode).toBe(0);
    serve = undefined;
  });

  it('carries a reboot from the slash command to the success message, and stops cleanly on SIGTERM', async () => {
    // A misspelt variable is pointed out in the log.
    const env = { ...serveEnv(), LAB_SELF_APROVAL: '1' };
    const registered = () =>
      fake.calls.filter(
        (call) => call.method === 'PUT' && call.path.endsWith(`/guilds/${fake.guildId}/commands`),
      );
    const before = registered().length;
    const started = await startServe(fake, env);
    serve = started.process;
    const stderr = started.stderr;
    // It registers /lab itself when it starts: an upgrade's commands need no manual step.
    await fake.waitFor(() => registered().length > before, 10_000, 'the commands to be registered');
    const commands = (registered().at(-1)?.body ?? []) as { name: string }[];
    expect(commands.map((command) => command.name)).toEqual(['lab']);
    expect(stderr()).not.toContain('fake-token');

    const bootsBefore = lab.bootLog('nas').length;
    const record = fake.command(alice, 'reboot', { target: 'nas' });
    const reply = await fake.waitFor(() => record.original?.content, 30_000, 'the reply');
    const runId = reply.match(/run `(\w+)`/)?.[1] as string;
    expect(reply).toMatch(/^Started reboot run `\w+` of 1 machine/);
    const message = await fake
      .waitFor(
        () => fake.channelMessages().find((m) => m.embeds[0]?.title === `Reboot run ${runId} · succeeded`),
        60_000,
        'the success message',
      )
      .catch((error: Error) => {
        const seen = fake.channelMessages().map((m) => `${m.embeds[0]?.title}: ${m.embeds[0]?.description}`);
        throw new Error(`${error.message}\nmessages:\n${seen.join('\n')}\nlab serve:\n${stderr()}`);
      });
    expect(message.embeds[0]?.description).toMatch(
      /✅ \*\*nas\*\* rebooted: (down [\d.]+ s, )?healthy [\d.]+ s after the reboot command$/,
    );
    expect(message.components).toEqual([]);
    expect(lab.bootLog('nas')).toHaveLength(bootsBefore + 1);
    expect(record.acknowledgedAt as number).toBeLessThan(record.sentAt + 3_000);

    started.process.kill('SIGTERM');
    const result = await started.process;
    expect({ exitCode: result.exitCode, signal: result.signal }).toEqual({ exitCode: 0, signal: undefined });
    // Not on a terminal, its log is JSON lines of lab serve, the last one saying it stopped.
    const entries = jsonLogEntries(stderr());
    expect(entries.every((entry) => entry.name === 'lab serve' && typeof entry.time === 'string')).toBe(true);
    expect(entries.map((entry) => entry.msg)).toContain('SIGTERM: parking running runs and stopping');
    expect(entries.at(-1)).toMatchObject({ level: 'info', msg: 'stopped' });
    expect(entries).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: 'unknown variable LAB_SELF_APROVAL is ignored (did you mean LAB_SELF_APPROVAL?)',
      }),
    );
    // The run's events are log entries too (stdout and stderr end up in one log under a service
    // manager), and stdout stays empty.
    expect(entries).toContainEqual(
      expect.objectContaining({
        runId,
        event: 'machine.succeeded',
        machine: 'nas',
        msg: expect.stringMatching(/nas/),
      }),
    );
    expect(result.stdout).toBe('');
    serve = undefined;
  });

  it('SIGTERM while a /lab reboot is being submitted: that one is finished, new ones are refused, then it stops', async () => {
    const nix = await gatedNix();
    // The monitor would read the flake too (its sync): here only the submission may reach nix.
    const env = {
      ...serveEnv(),
      LAB_QUEUE: `serve-${snowflake()}`,
      LAB_NIX: nix.bin,
      LAB_MONITOR_INTERVAL: '0',
    };
    const started = await startServe(fake, env);
    serve = started.process;
    // The submission reads the flake in the worker; nix is held there until the test lets it go.
    await nix.close();
    const submitting = fake.command(alice, 'reboot', { target: 'web' });
    await fake.waitFor(() => nix.reached(), 30_000, 'the submission to be evaluating the flake');
    expect(submitting.callbackType).toBe(5);
    started.process.kill('SIGTERM');
    await fake.waitFor(
      () => started.stderr().includes('SIGTERM: parking running runs and stopping'),
      10_000,
      'lab serve to be stopping',
    );
    // While it stops, a new interaction gets a short answer instead of nothing or an error.
    const late = fake.command(alice, 'reboot', { target: 'nas' });
    await nix.open();
    const result = await started.process;
    serve = undefined;
    const stderr = started.stderr();
    expect({ exitCode: result.exitCode, signal: result.signal }, stderr).toEqual({
      exitCode: 0,
      signal: undefined,
    });
    expect(late.ephemeral).toBe(true);
    expect(late.original?.content).toBe('⚠️ lab is shutting down; try again in a moment.');
    const answer = submitting.original?.content ?? '';
    expect(answer, stderr).toMatch(/^Started reboot run `\w+` of 1 machine/);
    // The run it answered with exists and waits for a worker; nothing failed on the way out.
    const { runs } = await queueClient(env);
    try {
      const record = await runs.run(answer.match(/run `(\w+)`/)?.[1] as string);
      expect(record.data.state.status).not.toBe('failed');
      expect(Object.keys(record.data.state.machines)).toEqual(['web']);
    } finally {
      await runs.close();
    }
    const entries = jsonLogEntries(stderr);
    expect(
      entries.filter((entry) => ['error', 'fatal'].includes(String(entry.level))),
      stderr,
    ).toEqual([]);
    expect(stderr).not.toContain('Connection is closed');
    expect(stderr).not.toContain('Something went wrong');
    expect(entries.at(-1)).toMatchObject({ level: 'info', msg: 'stopped' });
  });
});
