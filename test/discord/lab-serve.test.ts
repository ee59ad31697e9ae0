import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discordConfig } from '../../src/discord/discord-config.js';
import { registerCommands } from '../../src/discord/register-commands.js';
import { type Homelab, startHomelab } from '../sim/homelab.js';
import { repoRoot } from '../support/flake-fixtures.js';
import { queueEnv } from '../support/queue.js';
import { FakeDiscord, snowflake } from './fake-discord.js';

let lab: Homelab;
let fake: FakeDiscord;
let serve: ResultPromise | undefined;
let stderr = '';
const operator = snowflake();
const alice = { id: snowflake(), username: 'alice', roles: [operator] };

beforeAll(async () => {
  lab = await startHomelab({
    bootTimeMs: 200,
    machines: [
      {
        name: 'nas',
        lab: {
          role: 'nas',
          rebootOrder: 1,
          healthChecks: [{ type: 'tcp', port: 2049 }],
          orchestration: { rebootDelay: 0 },
        },
        services: [{ type: 'tcp', port: 2049 }],
      },
    ],
  });
  fake = await FakeDiscord.start({ roles: [{ id: operator, name: 'operator' }] });
});

afterAll(async () => {
  serve?.kill('SIGKILL');
  await serve?.catch(() => {});
  await fake?.stop();
  await lab?.stop();
});

describe('lab serve', () => {
  it('carries a reboot from the slash command to the success message, and stops cleanly on SIGTERM', async () => {
    const env = {
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
    await registerCommands(discordConfig(env));
    serve = execa('node', [`${repoRoot}/dist/cli/main.js`, 'serve'], { env, reject: false });
    serve.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    await fake.waitFor(
      () => stderr.includes('discord: bot and run messages'),
      30_000,
      'lab serve to be ready',
    );
    expect(stderr).not.toContain('fake-token');

    const bootsBefore = lab.bootLog('nas').length;
    const record = fake.command(alice, 'reboot', { target: 'nas' });
    const reply = await fake.waitFor(() => record.original?.content, 30_000, 'the reply');
    const runId = reply.match(/run `(\w+)`/)?.[1] as string;
    expect(reply).toMatch(/^Started reboot run `\w+` of 1 machine/);
    const message = await fake.waitFor(
      () => fake.channelMessages().find((m) => m.embeds[0]?.title === `Reboot run ${runId} · succeeded`),
      60_000,
      'the success message',
    );
    expect(message.embeds[0]?.description).toMatch(/✅ \*\*nas\*\* rebooted in [\d.]+ s/);
    expect(message.components).toEqual([]);
    expect(lab.bootLog('nas')).toHaveLength(bootsBefore + 1);
    expect(record.acknowledgedAt as number).toBeLessThan(record.sentAt + 3_000);

    serve.kill('SIGTERM');
    const result = await serve;
    expect({ exitCode: result.exitCode, signal: result.signal }).toEqual({ exitCode: 0, signal: undefined });
    expect(stderr).toContain('SIGTERM');
    serve = undefined;
  });
});
