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
