import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Homelab } from '../sim/homelab.js';
import { repoRoot } from '../support/flake-fixtures.js';
import { startTestHomelab, tcp } from '../support/homelabs.js';
import { runLabOn } from '../support/run-cli.js';
import { eventsOf, parseEvents } from '../support/run-events.js';

let lab: Homelab;

beforeAll(async () => {
  const checked = { role: 'r', serves: [tcp(5432)] };
  lab = await startTestHomelab({
    one: { ...checked, rebootOrder: 1 },
    two: { ...checked, rebootOrder: 2, faults: ['health-fails'] },
    three: { ...checked, rebootOrder: 3 },
    four: { role: 'r', rebootOrder: 1, faults: ['never-comes-back'] },
    five: { role: 'r', rebootOrder: 2 },
    patient: { role: 'r', rebootOrder: 1, orchestration: { rebootDelay: 60 } },
    // Before patient (by name, in the same stage); slow to boot when a test says so.
    early: { ...checked, rebootOrder: 1 },
  });
});

afterAll(async () => {
  await lab?.stop();
});

const reboot = (...args: string[]) => runLabOn(lab, 'reboot', ['--yes', ...args]);

describe('lab reboot stops at the first failure', () => {
  it('halts when health fails after the reboot, naming machine and check; later machines untouched', async () => {
    const result = await reboot('one', 'two', 'three', '--health-timeout', '1', '--json');
    expect(result.exitCode).toBe(1);
    const finished = parseEvents(result.stdout).at(-1);
    expect(finished).toMatchObject({
      type: 'run.finished',
      status: 'failed',
      failure: { machine: 'two', phase: 'health' },
      pending: ['three'],
    });
    expect(finished?.type === 'run.finished' && finished.failure?.reason).toMatch(
      /^health checks still failing after 1 s: tcp 5432 \(connection to localhost:5432 failed: .*\)$/,
    );
    expect(lab.bootLog('one')).toHaveLength(2);
    expect(lab.bootLog('two')).toHaveLength(2);
    expect(lab.bootLog('three')).toHaveLength(1);
  });

  it('says so in one readable line per event', async () => {
    lab.machine('two').setFaults(['health-fails']);
    const result = await reboot('two', '--health-timeout', '1');
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(
      / {2}two +FAILED at health: health checks still failing after 1 s: tcp 5432 \(/,
    );
    expect(result.stdout).toMatch(/ {2}run +failed at two \(health\): /);
  });

  it('fails a machine that never comes back after its reboot timeout, touching nothing after it', async () => {
    const result = await reboot('four', 'five', '--reboot-timeout', '2', '--json');
    expect(result.exitCode).toBe(1);
    const events = parseEvents(result.stdout);
    expect(eventsOf(events, 'machine.down').map((event) => event.machine)).toEqual(['four']);
    expect(eventsOf(events, 'machine.failed')).toEqual([
      expect.objectContaining({
        machine: 'four',
        phase: 'coming back',
        reason: 'four did not come back within 2 s of the reboot command (SSH never answered again)',
      }),
    ]);
    expect(events.at(-1)).toMatchObject({ status: 'failed', pending: ['five'] });
    expect(lab.bootLog('five')).toHaveLength(1);
  });

  it('stops cleanly on Ctrl-C and reports what was not done', async () => {
    const child = execa(
      'node',
      [
        join(repoRoot, 'dist/cli/main.js'),
        'reboot',
        'patient',
        '--yes',
        '--flake',
        lab.flake,
        '--nix-option',
        'substituters=',
      ],
      { env: lab.env, reject: false },
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('waiting 60 s (rebootDelay)')) child.kill('SIGINT');
    });
    const result = await child;
    expect(result.exitCode).toBe(130);
    expect(result.stderr).toContain('stopping after the current phase');
    expect(result.stdout).toMatch(/ {2}run +cancelled: Ctrl-C at the terminal; not touched: patient$/);
    expect(lab.bootLog('patient')).toHaveLength(1);
  });

  it('on Ctrl-C while a machine is down after its reboot, waits for it and checks it before stopping', async () => {
    lab.machine('early').setDelays({ bootMs: 3_000 });
    try {
      const boots = lab.bootLog('early').length;
      const child = execa(
        'node',
        [
          join(repoRoot, 'dist/cli/main.js'),
          'reboot',
          'early',
          'patient',
          '--yes',
          '--flake',
          lab.flake,
          '--nix-option',
          'substituters=',
        ],
        { env: lab.env, reject: false },
      );
      let interruptedAt = 0;
      child.stdout?.on('data', (chunk: Buffer) => {
        if (!interruptedAt && / {2}early +down$/m.test(chunk.toString())) {
          interruptedAt = Date.now();
          child.kill('SIGINT');
        }
      });
      const result = await child;
      expect(interruptedAt).toBeGreaterThan(0);
      expect(result.exitCode).toBe(130);
      expect(result.stdout).toMatch(
        / {2}run +cancelling \(Ctrl-C at the terminal\): nothing new starts; early is seen to the end first$/m,
      );
      expect(result.stdout).toMatch(/ {2}early +rebooted: down [\d.]+s/);
      expect(result.stdout).toMatch(
        / {2}run +cancelled: Ctrl-C at the terminal; rebooted: early; not touched: patient$/,
      );
      // It did reboot, and came back after the Ctrl-C.
      const log = lab.bootLog('early');
      expect(log).toHaveLength(boots + 1);
      expect(log.at(-1)?.upAt).toBeGreaterThan(interruptedAt);
      expect(result.stdout).toContain(`up again with boot ${log.at(-1)?.bootId.slice(0, 8)}`);
      expect(lab.bootLog('patient')).toHaveLength(1);
    } finally {
      lab.machine('early').setDelays({ bootMs: 0 });
    }
  });
});
