import { describe, expect, it } from 'vitest';
import { runEventLine } from '../../src/cli/render/run-events.js';
import { plainStyle } from '../../src/cli/render/style.js';
import { threadLine } from '../../src/discord/render/thread-lines.js';
import type { RunEvent, RunEventInput } from '../../src/orchestration/run-events.js';

const stamp = (input: RunEventInput): RunEvent =>
  ({ ...input, runId: 'r1', at: '2026-11-27T04:00:00.000Z', elapsedMs: 1_500 }) as RunEvent;
const previous = '/nix/store/0qi9ikxz3jxxizf49vzp098biw5jff7m-nixos-system-db-4';
const next = '/nix/store/1ab2ikxz3jxxizf49vzp098biw5jff7m-nixos-system-db-5';

/** Events whose words hold no duration nor time (those each sink shows its own way). */
const events: RunEventInput[] = [
  { type: 'run.started', kind: 'deploy', steps: [['db'], ['web']] },
  { type: 'machine.confirmed', machine: 'db', approvals: [{ by: 'bob', at: '2026-11-27T04:00:00.000Z' }] },
  { type: 'machine.rebooting', machine: 'db', bootId: '1a2b3c4d-5e6f' },
  { type: 'machine.down', machine: 'db' },
  {
    type: 'machine.health',
    machine: 'db',
    ok: true,
    attempt: 1,
    checks: [{ name: 'tcp 5432', type: 'tcp', ok: true, latencyMs: 3, error: null }],
  },
  {
    type: 'machine.health',
    machine: 'db',
    ok: false,
    attempt: 2,
    checks: [{ name: 'tcp 5432', type: 'tcp', ok: false, latencyMs: 3, error: 'refused' }],
  },
  { type: 'machine.failed', machine: 'db', phase: 'activation', reason: 'switch-to-configuration failed' },
  { type: 'machine.skipped', machine: 'db', reason: 'skipped by bob' },
  { type: 'deploy.built', systems: { db: next } },
  { type: 'machine.copying', machine: 'db', system: next },
  { type: 'machine.activating', machine: 'db', action: 'switch', system: next },
  { type: 'machine.activating', machine: 'db', action: 'boot', system: next },
  { type: 'machine.rolling-back', machine: 'db', to: previous, generation: 4 },
  { type: 'machine.rolled-back', machine: 'db', ok: true, reason: null },
  { type: 'machine.rolled-back', machine: 'db', ok: false, reason: 'the switch failed' },
  { type: 'machine.needs-reboot', machine: 'db', changed: ['kernel'] },
  { type: 'run.decided', decision: 'skip', by: 'alice' },
  { type: 'run.cancelling', reason: 'cancelled by bob', finishing: ['db'] },
];

/** "   1.5s  db  FAILED at …" → "db failed at …" */
const terminalWords = (line: string) =>
  line
    .replace(/^ *[\d.]+s {2}/, '')
    .replace(/ {2}/, ' ')
    .toLowerCase();
/** "<t:…:T> ❌ **db** failed at …" → "db failed at …" */
const discordWords = (line: string) =>
  line
    .replace(/^<t:\d+:T> /, '')
    .replace(/^[^\w*]+ /u, '')
    .replaceAll('**', '')
    .toLowerCase();

describe('the terminal and Discord', () => {
  it('say the same words for an event (the terminal writes an alarm in capitals)', () => {
    for (const input of events) {
      const event = stamp(input);
      const discord = threadLine(event);
      const terminal = runEventLine(event, plainStyle, 0);
      expect(discord, event.type).not.toBeNull();
      expect(terminal, event.type).not.toBeNull();
      expect(discordWords(discord as string), event.type).toBe(terminalWords(terminal as string));
    }
  });
});
