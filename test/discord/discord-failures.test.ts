import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { queueEnv } from '../support/queue.js';
import { runLab } from '../support/run-cli.js';
import { FakeDiscord, snowflake } from './fake-discord.js';

let fake: FakeDiscord;
const operator = snowflake();

beforeAll(async () => {
  fake = await FakeDiscord.start({
    roles: [{ id: operator, name: 'operator' }],
    acceptedToken: 'right-token',
  });
});

afterAll(async () => {
  await fake?.stop();
});

function discordEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    ...queueEnv(),
    REDIS_URL: inject('redisUrl'),
    DISCORD_TOKEN: 'right-token',
    DISCORD_GUILD_IDS: fake.guildId,
    DISCORD_OPERATOR_ROLE_IDS: operator,
    DISCORD_APPROVER_ROLE_IDS: operator,
    DISCORD_API_URL: fake.apiUrl,
    LAB_FLAKE: '/nonexistent',
    ...overrides,
  };
}

describe('when Discord refuses lab or is out of reach, the operator is told what to do', () => {
  it('registers /lab with the right token and a guild the bot is in (no flake needed for that)', async () => {
    const result = await runLab(['discord', 'register'], discordEnv({ LAB_FLAKE: '' }));
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`Registered /lab in 1 guild: ${fake.guildId}\n`);
  });

  it('a refused token (register and bot)', async () => {
    for (const command of [['discord', 'register'], ['bot']]) {
      const result = await runLab(command, discordEnv({ DISCORD_TOKEN: 'wrong-token' }));
      expect(result.exitCode, command.join(' ')).toBe(1);
      expect(result.stderr).toMatch(
        /^lab: (reading the application id|logging in to Discord): Discord refused the bot token \(DISCORD_TOKEN \/ DISCORD_TOKEN_FILE\): copy it again from the Developer Portal/,
      );
      expect(result.stderr).not.toContain('wrong-token');
    }
  });

  it('a guild the bot is not in, with the invite link to fix it', async () => {
    const other = snowflake();
    const application = snowflake();
    const result = await runLab(
      ['discord', 'register'],
      discordEnv({ DISCORD_GUILD_IDS: other, DISCORD_APPLICATION_ID: application }),
    );
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe(
      `lab: registering /lab in guild ${other}: Discord says Missing Access ` +
        `(/applications/${application}/guilds/${other}/commands): is the bot in that guild? ` +
        'Invite it with the applications.commands scope: ' +
        `https://discord.com/oauth2/authorize?client_id=${application}&scope=bot+applications.commands&permissions=309237730304\n`,
    );
  });

  it('Discord out of reach', async () => {
    const result = await runLab(
      ['discord', 'register'],
      discordEnv({ DISCORD_API_URL: 'http://127.0.0.1:1/api' }),
    );
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe(
      'lab: reading the application id: cannot reach Discord at http://127.0.0.1:1/api (ECONNREFUSED)\n',
    );
  });
});
