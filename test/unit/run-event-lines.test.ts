import { describe, expect, it } from 'vitest';
import { runEventLine } from '../../src/cli/render/run-events.js';
import { plainStyle } from '../../src/cli/render/style.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';

const health = (ok: boolean, checks: unknown[] = []) =>
  ({
    type: 'machine.health',
    runId: 'r1',
    at: '2026-11-27T04:00:00.000Z',
    elapsedMs: 1_500,
    machine: 'db',
    ok,
    attempt: 1,
    checks,
  }) as unknown as RunEvent;

describe('run event lines', () => {
  it('tell a machine without checks that answers from one that does not', () => {
    expect(runEventLine(health(true), plainStyle, 4)).toBe(
      '   1.5s  db    health ok: no checks; SSH answers',
    );
    expect(runEventLine(health(false), plainStyle, 4)).toBe(
      '   1.5s  db    health not yet: SSH does not answer',
    );
  });

  it('tell how long a rebooted machine was down and until it was healthy, the approval wait apart', () => {
    const succeeded = (fields: Record<string, unknown>) =>
      ({
        type: 'machine.succeeded',
        runId: 'r1',
        at: '2026-11-27T04:00:00.000Z',
        elapsedMs: 122_000,
        machine: 'db',
        what: 'rebooted',
        durationMs: 122_000,
        ...fields,
      }) as unknown as RunEvent;
    expect(
      runEventLine(succeeded({ downMs: 1_200, healthyMs: 3_400, approvalWaitMs: 120_000 }), plainStyle, 4),
    ).toBe(
      ' 122.0s  db    rebooted: down 1.2s, healthy 3.4s after the reboot command (approved after 120.0s)',
    );
    expect(
      runEventLine(succeeded({ downMs: null, healthyMs: 3_400, approvalWaitMs: null }), plainStyle, 4),
    ).toBe(' 122.0s  db    rebooted: healthy 3.4s after the reboot command');
    // A deploy (and an event from before these fields) keeps the whole time.
    expect(runEventLine(succeeded({ what: 'deployed' }), plainStyle, 4)).toBe(
      ' 122.0s  db    deployed and healthy in 122.0s',
    );
  });
});

const event = (fields: Record<string, unknown>) =>
  ({ runId: 'r1', at: '2026-11-27T04:00:00.000Z', elapsedMs: 4_300, ...fields }) as unknown as RunEvent;

describe('how a run ended, in one line', () => {
  it('a cancel names what became of the machines it had touched, and those it did not touch', () => {
    const line = runEventLine(
      event({
        type: 'run.finished',
        status: 'cancelled',
        failure: null,
        pending: ['media'],
        reason: 'cancelled by bob',
        outcomes: [
          { machine: 'vault', outcome: 'rebooted' },
          { machine: 'media', outcome: 'not touched' },
        ],
      }),
      plainStyle,
      5,
    );
    expect(line).toBe('   4.3s  run    cancelled: cancelled by bob; rebooted: vault; not touched: media');
    expect(
      runEventLine(
        event({ type: 'run.cancelling', reason: 'cancelled by bob', finishing: ['vault', 'db'] }),
        plainStyle,
        5,
      ),
    ).toBe(
      '   4.3s  run    cancelling (cancelled by bob): nothing new starts; vault, db are seen to the end first',
    );
  });

  it('an aborted run says who aborted it after which failure', () => {
    expect(
      runEventLine(
        event({
          type: 'run.finished',
          status: 'aborted',
          failure: { machine: 'app', phase: 'health', reason: 'tcp 8080 refused' },
          pending: ['web'],
          reason: 'aborted by bob after app failed',
          outcomes: [
            { machine: 'app', outcome: 'failed' },
            { machine: 'web', outcome: 'not touched' },
          ],
        }),
        plainStyle,
        5,
      ),
    ).toBe(
      '   4.3s  run    aborted: aborted by bob after app failed; app failed at health: tcp 8080 refused; not touched: web',
    );
  });

  it('a build failure names the machines whose systems failed, never "null"', () => {
    const failure = { machine: null, machines: ['web'], phase: 'build', reason: 'build failed: …' };
    const finished = runEventLine(
      event({
        type: 'run.finished',
        status: 'failed',
        failure,
        pending: ['gw', 'db', 'web'],
        reason: null,
        outcomes: [
          { machine: 'gw', outcome: 'not touched' },
          { machine: 'db', outcome: 'not touched' },
          { machine: 'web', outcome: 'not built' },
        ],
      }),
      plainStyle,
      5,
    );
    expect(finished).toBe('   4.3s  run    failed at the build (web): build failed: …; not touched: gw, db');
    const halted = runEventLine(
      event({
        type: 'run.halted',
        ...failure,
        checks: [],
        decisions: ['retry', 'abort'],
        expiresAt: '2026-11-27T05:00:00.000Z',
      }),
      plainStyle,
      5,
    );
    expect(halted).toMatch(
      /^ {3}4\.3s {2}run {4}HALTED: the build \(web\) failed: build failed: …; decide by /,
    );
    // Events written before outcomes and machines existed still read well.
    expect(
      runEventLine(
        event({
          type: 'run.finished',
          status: 'failed',
          failure: { machine: null, phase: 'build', reason: 'nix failed' },
          pending: ['gw'],
          reason: null,
        }),
        plainStyle,
        5,
      ),
    ).toBe('   4.3s  run    failed at the build: nix failed; not touched: gw');
  });
});

const deployEvent = (fields: Record<string, unknown>) =>
  ({ runId: 'r1', at: '2026-11-27T04:00:00.000Z', elapsedMs: 1_500, machine: 'db', ...fields }) as RunEvent;
const previous = '/nix/store/0qi9ikxz3jxxizf49vzp098biw5jff7m-nixos-system-db-4';
const failed = '/nix/store/1ab2ikxz3jxxizf49vzp098biw5jff7m-nixos-system-db-5';
const verified = {
  system: previous,
  current: previous,
  profile: previous,
  generation: 4,
  bootDefault: previous,
  bootLoader: 'systemd-boot',
  bootUnknown: null,
  healthy: true,
};

describe('deploy event lines', () => {
  it('say what a rollback verified, and what disagrees', () => {
    expect(
      runEventLine(deployEvent({ type: 'machine.rolling-back', to: previous, generation: 4 }), plainStyle, 4),
    ).toBe('   1.5s  db    rolling back to nixos-system-db-4 (profile generation 4)');
    expect(
      runEventLine(
        deployEvent({ type: 'machine.rolled-back', ok: true, reason: null, verified }),
        plainStyle,
        4,
      ),
    ).toBe(
      '   1.5s  db    rolled back: runs nixos-system-db-4; its profile, generation 4, points at it; ' +
        'its boot default (systemd-boot) is it; healthy',
    );
    expect(
      runEventLine(
        deployEvent({
          type: 'machine.rolled-back',
          ok: true,
          reason: null,
          verified: { ...verified, bootDefault: null, bootLoader: null, bootUnknown: 'no boot loader found' },
        }),
        plainStyle,
        4,
      ),
    ).toBe(
      '   1.5s  db    rolled back: runs nixos-system-db-4; its profile, generation 4, points at it; ' +
        'its boot default is unknown (no boot loader found); healthy',
    );
    expect(
      runEventLine(
        deployEvent({
          type: 'machine.rolled-back',
          ok: false,
          reason: `its profile is generation 5 (${failed}), not generation 4 (${previous})`,
          verified: { ...verified, profile: failed, generation: 5 },
        }),
        plainStyle,
        4,
      ),
    ).toBe(
      `   1.5s  db    ROLLBACK FAILED: its profile is generation 5 (${failed}), not generation 4 (${previous}) ` +
        '(read back: runs nixos-system-db-4; its profile is generation 5 (nixos-system-db-5); ' +
        'its boot default (systemd-boot) is it; healthy)',
    );
  });

  it("say that blue-green's commit makes the system the boot default", () => {
    expect(
      runEventLine(
        deployEvent({ type: 'machine.activating', action: 'boot', system: failed }),
        plainStyle,
        4,
      ),
    ).toBe('   1.5s  db    committing: nixos-system-db-5 becomes the boot default (boot)');
  });
});
