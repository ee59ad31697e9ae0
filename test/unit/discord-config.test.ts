import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeButton, encodeButton } from '../../src/discord/custom-ids.js';
import { discordConfig } from '../../src/discord/discord-config.js';
import { allowed } from '../../src/discord/permissions.js';
import { offersPowerCycle, powerCycleButton } from '../../src/discord/render/alert-message.js';
import { powerSchema } from '../../src/domain/inventory/power-schema.js';
import { temporaryDir } from '../support/flake-fixtures.js';
import { machine } from '../support/machines.js';

const base = {
  DISCORD_GUILD_IDS: '111111111111111111',
  DISCORD_OPERATOR_ROLE_IDS: '222222222222222222',
  DISCORD_APPROVER_ROLE_IDS: '333333333333333333, 444444444444444444',
  LAB_FLAKE: '/etc/homelab',
};

describe('Discord configuration', () => {
  it('reads the token from DISCORD_TOKEN_FILE (e.g. a systemd credential) and lists of role ids', async () => {
    const dir = await temporaryDir();
    const file = join(dir, 'token');
    writeFileSync(file, 'secret-token\n');
    const config = discordConfig({ ...base, DISCORD_TOKEN_FILE: file });
    expect(config.token).toBe('secret-token');
    expect(config.approverRoleIds).toEqual(['333333333333333333', '444444444444444444']);
    expect(config.viewerRoleIds).toEqual([]);
    expect(config.apiUrl).toBe('https://discord.com/api');
  });

  it('names what is missing or wrong, and never shows the token', () => {
    expect(() => discordConfig(base)).toThrow(
      'DISCORD_TOKEN or DISCORD_TOKEN_FILE: the bot token is missing',
    );
    expect(() =>
      discordConfig({ ...base, DISCORD_TOKEN: 'secret-token', DISCORD_GUILD_IDS: 'my-server' }),
    ).toThrow(/^invalid Discord configuration: DISCORD_GUILD_IDS: a Discord id \(digits\)$/);
    expect(() =>
      discordConfig({ ...base, DISCORD_TOKEN: 'secret-token', DISCORD_OPERATOR_ROLE_IDS: '' }),
    ).toThrow(/^invalid Discord configuration: DISCORD_OPERATOR_ROLE_IDS: is required$/);
    expect(() => discordConfig({ ...base, DISCORD_TOKEN_FILE: '/nonexistent/token' })).toThrow(
      'DISCORD_TOKEN_FILE: cannot read /nonexistent/token: ENOENT',
    );
    try {
      discordConfig({ ...base, DISCORD_TOKEN: 'secret-token', DISCORD_API_URL: 'nope' });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toMatch(/DISCORD_API_URL/);
      expect((error as Error).message).not.toContain('secret-token');
    }
  });

  it('needs LAB_FLAKE for the bot only: a worker posting run messages does without', () => {
    const { LAB_FLAKE: _flake, ...noFlake } = { ...base, DISCORD_TOKEN: 't' };
    expect(() => discordConfig(noFlake)).toThrow(/^invalid Discord configuration: LAB_FLAKE: is required$/);
    expect(discordConfig(noFlake, { bot: false }).channelId).toBeUndefined();
  });

  it('checks roles on the server: operators operate, approvers approve, viewers (or everyone) view', () => {
    const config = discordConfig({ ...base, DISCORD_TOKEN: 't' });
    const member = (roles: string[]) => ({ userId: '1', name: 'x', roles });
    expect(allowed(config, member(['222222222222222222']), 'operate')).toBe(true);
    expect(allowed(config, member(['222222222222222222']), 'approve')).toBe(false);
    expect(allowed(config, member(['444444444444444444']), 'approve')).toBe(true);
    expect(allowed(config, member([]), 'view')).toBe(true);
    const restricted = discordConfig({
      ...base,
      DISCORD_TOKEN: 't',
      DISCORD_VIEWER_ROLE_IDS: '555555555555555555',
    });
    expect(allowed(restricted, member([]), 'view')).toBe(false);
    expect(allowed(restricted, member(['555555555555555555']), 'view')).toBe(true);
  });
});

describe('button ids', () => {
  it('round-trip, stay within 100 characters, and reject anything else', () => {
    const buttons = [
      { action: 'approve', runId: '3f2a9c1d7e', machine: 'db-primary', plan: '0123456789ab' },
      { action: 'deny', runId: '3f2a9c1d7e', machine: 'db', plan: '0123456789ab' },
      { action: 'cancel', runId: '3f2a9c1d7e' },
      { action: 'decide', runId: '3f2a9c1d7e', decision: 'skip', haltAt: 1795739571389 },
      { action: 'start', plan: '0123456789ab', target: '@storage', skipBroken: false },
      { action: 'start', plan: '0123456789ab', target: 'all', skipBroken: true },
      { action: 'monitor-reboot', machine: 'db-primary' },
      { action: 'check', machine: 'db' },
      { action: 'silence', machine: 'db', duration: '1h' },
      { action: 'unsilence', silence: '0a1b2c3d' },
      { action: 'power-cycle', machine: 'db', haltedRun: '3f2a9c1d7e' },
      { action: 'power-cycle', machine: 'db', haltedRun: null },
    ] as const;
    for (const button of buttons) {
      const id = encodeButton(button);
      expect(id.length).toBeLessThanOrEqual(100);
      expect(decodeButton(id)).toEqual(button);
    }
    expect(decodeButton('other:approve:x:y:z')).toBeNull();
    expect(decodeButton('lab:decide:run:reboot-everything:1')).toBeNull();
    expect(decodeButton('lab:approve:run:db')).toBeNull();
    expect(decodeButton('lab:silence:db')).toBeNull();
    expect(decodeButton('lab:check:db:extra')).toBeNull();
    expect(encodeButton(buttons[8])).toBe('lab:silence:db:1h');
    expect(encodeButton(buttons[4])).toBe('lab:start:0123456789ab:@storage');
    expect(encodeButton(buttons[5])).toBe('lab:start-skip-broken:0123456789ab:all');
    expect(encodeButton(buttons[10])).toBe('lab:power-cycle:db:3f2a9c1d7e');
    expect(encodeButton(buttons[11])).toBe('lab:power-cycle:db');
    expect(decodeButton('lab:power-cycle:db:run:extra')).toBeNull();
    expect(decodeButton('lab:power-cycle:db:')).toBeNull();
    expect(() =>
      encodeButton({ action: 'start', plan: 'p', target: 'x'.repeat(100), skipBroken: false }),
    ).toThrow(/too long/);
  });
});

describe('the Power cycle button of an alert', () => {
  const withPower = (power: Record<string, unknown>) => machine('db', { power: powerSchema.parse(power) });

  it('is offered for an unreachable machine that can be power-cycled, and nothing else', () => {
    expect(offersPowerCycle(withPower({ command: { cycle: ['plug', 'cycle'] } }), true)).toBe(true);
    expect(offersPowerCycle(withPower({ command: { off: ['plug', 'off'], on: ['plug', 'on'] } }), true)).toBe(
      true,
    );
    expect(offersPowerCycle(withPower({ command: { cycle: ['plug', 'cycle'] } }), false)).toBe(false);
    // Wake-on-LAN powers on only: no power cycle.
    expect(offersPowerCycle(withPower({ wakeOnLan: { mac: '52:54:00:12:34:56' } }), true)).toBe(false);
    expect(offersPowerCycle(machine('db'), true)).toBe(false);
    expect(offersPowerCycle(undefined, true)).toBe(false);
  });

  it('submits a power cycle of the machine, under the halted run’s lock when it comes from its alert', () => {
    const db = withPower({ command: { cycle: ['plug', 'cycle'] } });
    expect(powerCycleButton(db, '3f2a9c1d7e')).toMatchObject({
      label: 'Power cycle db',
      custom_id: 'lab:power-cycle:db:3f2a9c1d7e',
    });
    expect(powerCycleButton(db)).toMatchObject({ custom_id: 'lab:power-cycle:db' });
  });
});
