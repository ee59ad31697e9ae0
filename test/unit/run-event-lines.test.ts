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
