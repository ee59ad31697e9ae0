import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Homelab } from '../sim/homelab.js';
import { repoRoot } from '../support/flake-fixtures.js';
import { startTestHomelab, tcp } from '../support/homelabs.js';
import { eventsOf, parseEvents } from '../support/run-events.js';

let lab: Homelab;

beforeAll(async () => {
  lab = await startTestHomelab({
    a: { role: 'app', rebootOrder: 1, serves: [tcp(7000)] },
    b: { role: 'app', rebootOrder: 2, serves: [tcp(7000)] },
  });
  // a stays down long enough that b's connection, opened while a reboots, is there before a is back.
  lab.machine('a').setDelays({ bootMs: 1_500 });
});

afterAll(async () => {
  await lab?.stop();
});

/** The SSH logins the machine's sshd has accepted so far (its own log). */
const logins = (name: string): number =>
  readFileSync(join(lab.machine(name).dir, 'sshd.log'), 'utf8')
    .split('\n')
    .filter((line) => line.includes('Accepted publickey')).length;

describe('lab reboot keeps the next step ready', () => {
  it("opens the next step's SSH connection while the current step runs, and uses it at its turn", async () => {
    const before = logins('b');
    const seen: Record<string, number> = {};
    const child = execa(
      'node',
      [
        join(repoRoot, 'dist/cli/main.js'),
        'reboot',
        '--all',
        '--flake',
        lab.flake,
        '--nix-option',
        'substituters=',
        '--json',
        '--reboot-timeout',
        '30',
        '--health-timeout',
        '20',
      ],
      { env: { ...lab.env, LAB_NO_CACHE: '1' }, reject: false },
    );
    let pending = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const event = JSON.parse(line) as { type: string; machine?: string };
        // Read b's sshd log the moment lab reports a back, and when b's reboot begins.
        const key = `${event.type} ${event.machine ?? ''}`;
        if (key === 'machine.up a' || key === 'machine.rebooting b') seen[key] = logins('b') - before;
      }
    });
    const result = await child;
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    // b's login was accepted while a was still rebooting: before lab saw a back.
    expect(seen['machine.up a']).toBe(1);
    // At b's turn, its boot id was read on that same connection: no second login before its reboot.
    expect(seen['machine.rebooting b']).toBe(1);
    const events = parseEvents(result.stdout);
    expect(eventsOf(events, 'machine.succeeded').map((event) => event.machine)).toEqual(['a', 'b']);
    // Read on the machines: each rebooted once, a before b.
    const [aDown, bDown] = ['a', 'b'].map((name) => lab.bootLog(name)[0]?.downAt ?? 0);
    expect(aDown).toBeGreaterThan(0);
    expect(bDown).toBeGreaterThan(aDown as number);
    expect(lab.bootLog('a')).toHaveLength(2);
    expect(lab.bootLog('b')).toHaveLength(2);
  });
});
