import { describe, expect, it } from 'vitest';
import { unknownVariables } from '../../src/util/known-variables.js';

describe('unknown variables', () => {
  it("are lab's prefixes with names lab does not read, each with the closest known name", () => {
    expect(
      unknownVariables({
        LAB_APPROVAL_HIGH: '1',
        DISCORD_GUILD_ID: '123',
        LAB_SOMETHING_ELSE: '1',
        LAB_QUEUE: 'lab',
        DISCORD_TOKEN: 't',
        LAB_EVAL_HOSTS: '[]',
        HOME: '/root',
      }),
    ).toEqual([
      { name: 'DISCORD_GUILD_ID', suggestion: 'DISCORD_GUILD_IDS' },
      { name: 'LAB_APPROVAL_HIGH', suggestion: 'LAB_APPROVALS_HIGH' },
      { name: 'LAB_SOMETHING_ELSE', suggestion: null },
    ]);
    expect(unknownVariables({ LAB_FLAKE: '.', LAB_FLAKE_DIR: './homelab', REDIS_URL: 'redis://x' })).toEqual(
      [],
    );
  });
});
