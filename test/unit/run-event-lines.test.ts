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
});

const event = (fields: Record<string, unknown>) =>
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
      runEventLine(event({ type: 'machine.rolling-back', to: previous, generation: 4 }), plainStyle, 4),
    ).toBe('   1.5s  db    rolling back to nixos-system-db-4 (profile generation 4)');
    expect(
      runEventLine(event({ type: 'machine.rolled-back', ok: true, reason: null, verified }), plainStyle, 4),
    ).toBe(
      '   1.5s  db    rolled back: runs nixos-system-db-4; its profile, generation 4, points at it; ' +
        'its boot default (systemd-boot) is it; healthy',
    );
    expect(
      runEventLine(
        event({
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
        event({
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
      runEventLine(event({ type: 'machine.activating', action: 'boot', system: failed }), plainStyle, 4),
    ).toBe('   1.5s  db    committing: nixos-system-db-5 becomes the boot default (boot)');
  });
});
