import { describe, expect, it } from 'vitest';
import { haltOutcome } from '../../src/discord/render/alert-message.js';
import { threadLine } from '../../src/discord/render/thread-lines.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';
import type { Halt } from '../../src/orchestration/run-flow.js';

const at = '2026-11-27T04:00:00.000Z';
const t = Date.parse(at) / 1000;
const event = (fields: Record<string, unknown>) =>
  ({ runId: 'r1', at, elapsedMs: 1_500, ...fields }) as unknown as RunEvent;

describe('the lines of a run thread', () => {
  it('give times as Discord timestamps and point at the buttons, not at lab commands', () => {
    expect(
      threadLine(
        event({
          type: 'machine.waiting',
          machine: 'db',
          reason: 'approval',
          required: 2,
          approvals: [{ by: 'bob', at }],
          expiresAt: '2026-11-27T04:30:00.000Z',
        }),
      ),
    ).toBe(
      `<t:${t}:T> 🔐 **db** waits for approval: 1 of 2 (bob), expires <t:${t + 1800}:T> (<t:${t + 1800}:R>)`,
    );
    expect(
      threadLine(
        event({
          type: 'machine.waiting',
          machine: 'db',
          reason: 'window',
          opensAt: '2026-11-27T05:00:00.000Z',
          closesAt: '2026-11-27T06:00:00.000Z',
          why: 'outside its window (daily 05:00-06:00 UTC)',
        }),
      ),
    ).toBe(
      `<t:${t}:T> ⏳ **db** waits for its window, opens <t:${t + 3600}:T> (<t:${t + 3600}:R>) · outside its window (daily 05:00-06:00 UTC)`,
    );
    expect(
      threadLine(
        event({
          type: 'run.halted',
          machine: 'web',
          phase: 'health',
          reason: 'health checks still failing after 2 s: tcp 80 (connection refused)',
          checks: [{ name: 'tcp 80', error: 'connection refused' }],
          decisions: ['retry', 'skip', 'abort'],
          expiresAt: '2026-11-27T05:00:00.000Z',
        }),
      ),
    ).toBe(
      `<t:${t}:T> 🚨 run halted: **web** failed at health; decide on the alert by <t:${t + 3600}:T> (<t:${t + 3600}:R>)`,
    );
  });

  it('tell a reboot by how long the machine was down and until healthy, the approval wait apart', () => {
    const succeeded = (fields: Record<string, unknown>) =>
      threadLine(
        event({
          type: 'machine.succeeded',
          machine: 'vault',
          what: 'rebooted',
          durationMs: 126_000,
          ...fields,
        }),
      );
    expect(succeeded({ downMs: 1_200, healthyMs: 3_400, approvalWaitMs: 120_000 })).toBe(
      `<t:${t}:T> ✅ **vault** rebooted: down 1.2 s, healthy 3.4 s after the reboot command · approved after 2 min`,
    );
    expect(succeeded({ downMs: null, healthyMs: 3_400, approvalWaitMs: null })).toBe(
      `<t:${t}:T> ✅ **vault** rebooted: healthy 3.4 s after the reboot command`,
    );
  });

  it('say who ended a run and leave out what the run message shows', () => {
    const finished = (fields: Record<string, unknown>) =>
      threadLine(event({ type: 'run.finished', failure: null, pending: [], reason: null, ...fields }));
    expect(finished({ status: 'cancelled', reason: 'cancelled by alice', pending: ['web'] })).toBe(
      `<t:${t}:T> ⏹️ run cancelled by alice; not touched: web`,
    );
    expect(finished({ status: 'cancelled', reason: 'db was denied by carol' })).toBe(
      `<t:${t}:T> ⏹️ run cancelled: db was denied by carol`,
    );
    expect(
      finished({ status: 'failed', failure: { machine: 'web', phase: 'health', reason: 'tcp 80 refused' } }),
    ).toBe(`<t:${t}:T> ❌ run failed: **web** failed at health: tcp 80 refused`);
    expect(
      threadLine(event({ type: 'machine.waiting', machine: 'db', reason: 'delay', seconds: 60 })),
    ).toBeNull();
    expect(threadLine(event({ type: 'step.finished', step: 1, ok: true }))).toBeNull();
    expect(threadLine(event({ type: 'step.started', step: 1, machines: ['db'] }))).toBeNull();
  });
});

describe('the outcome an alert shows', () => {
  const halt: Halt = {
    machine: 'web',
    phase: 'health',
    reason: 'unhealthy',
    checks: [],
    at: Date.parse(at),
    expiresAt: Date.parse(at) + 3_600_000,
    decisions: ['retry', 'skip', 'abort'],
  };
  const finished = (fields: Record<string, unknown>) =>
    event({ type: 'run.finished', failure: null, pending: [], reason: null, ...fields }) as Extract<
      RunEvent,
      { type: 'run.finished' }
    >;

  it('names who decided or cancelled, and says nobody decided only when the halt expired', () => {
    expect(
      haltOutcome(event({ type: 'run.decided', decision: 'retry', by: 'alice' }) as never, halt, null),
    ).toBe('retry by alice');
    expect(haltOutcome(finished({ status: 'cancelled', reason: 'cancelled by alice' }), halt, 'alice')).toBe(
      'run cancelled by alice',
    );
    const expired = finished({
      status: 'failed',
      at: '2026-11-27T05:00:00.050Z',
      reason: 'nobody retried, skipped or aborted within 3600 s',
    });
    expect(haltOutcome(expired, halt, null)).toBe('nobody decided within 60 min: run failed');
    expect(
      haltOutcome(finished({ status: 'failed', reason: 'internal error in the worker: boom' }), halt, null),
    ).toBe('run failed: internal error in the worker: boom');
  });
});
