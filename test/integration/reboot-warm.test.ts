import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Homelab } from '../sim/homelab.js';
import { repoRoot } from '../support/flake-fixtures.js';
import { startTestHomelab, tcp } from '../support/homelabs.js';
import { TEST_REBOOT_DEADLINES } from '../support/run-cli.js';
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

/** `lab reboot --all --json` of the homelab, calling `onEvent` with each event as it comes. */
function labRebootAll(onEvent: (event: { type: string; machine?: string }) => void) {
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
      ...TEST_REBOOT_DEADLINES,
    ],
    { env: { ...lab.env, LAB_NO_CACHE: '1' }, reject: false },
  );
  let pending = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) onEvent(JSON.parse(line));
  });
  return child;
}

describe('lab reboot keeps the next step ready', () => {
  it("opens the next step's SSH connection while the current step runs, and uses it at its turn", async () => {
    const before = logins('b');
    const seen: Record<string, number> = {};
    const result = await labRebootAll((event) => {
      // Read b's sshd log the moment lab reports a back, and when b's reboot begins.
      const key = `${event.type} ${event.machine ?? ''}`;
      if (key === 'machine.up a' || key === 'machine.rebooting b') seen[key] = logins('b') - before;
    });
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

  it('sends nothing to a boot other than the one it read ahead: a machine that rebooted on its own is read again', async () => {
    const [aBoots, bBoots] = [lab.bootLog('a').length, lab.bootLog('b').length];
    const bRequests = lab.machine('b').rebootRequests().length;
    lab.machine('a').setDelays({ bootMs: 3_000 });
    const events: { type: string; machine?: string; bootId?: string; previousBootId?: string }[] = [];
    let pulled: Promise<void> | undefined;
    const result = await labRebootAll((event) => {
      events.push(event);
      // b's boot id was read ahead as a's step began; now b loses power and boots again.
      if (event.type === 'machine.down' && event.machine === 'a') pulled ??= lab.machine('b').powerCycle();
    });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(pulled).toBeDefined();
    // On the machines: b booted twice more (the power cut, then lab's reboot), a once.
    expect(lab.bootLog('a')).toHaveLength(aBoots + 1);
    const boots = lab.bootLog('b');
    expect(boots).toHaveLength(bBoots + 2);
    const [, afterCut, afterReboot] = boots.slice(bBoots - 1);
    // One reboot command reached b, in the boot that followed the power cut.
    const requests = lab.machine('b').rebootRequests().slice(bRequests);
    expect(requests.map((request) => request.bootId)).toEqual([afterCut?.bootId]);
    // And lab says so: rebooting that boot, back with the next.
    const rebooting = events.find((event) => event.type === 'machine.rebooting' && event.machine === 'b');
    const up = events.find((event) => event.type === 'machine.up' && event.machine === 'b');
    expect(rebooting?.bootId).toBe(afterCut?.bootId);
    expect(up?.previousBootId).toBe(afterCut?.bootId);
    expect(up?.bootId).toBe(afterReboot?.bootId);
  });
});
