import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UnknownRunStateError } from '../../src/errors.js';
import { planId } from '../../src/orchestration/queue/run-request.js';
import { readRunState } from '../../src/orchestration/run-state-upgrade.js';

/**
 * Version 1 states exactly as the previous version wrote them: captured by running its engines
 * (test/fixtures/run-states/capture-v1.ts.txt, run against the code before the upgrade).
 */
const v1 = JSON.parse(
  readFileSync(new URL('../fixtures/run-states/v1-states.json', import.meta.url), 'utf8'),
) as Record<string, Record<string, unknown> & { progress?: Record<string, Record<string, unknown>> }>;
const fixture = (name: string) => structuredClone(v1[name] as Record<string, unknown>);

describe('readRunState upgrades version 1 states', () => {
  it('a reboot waiting for approval: confirmed + approvals[] become one approval, steps become {machines}', () => {
    const state = readRunState(fixture('rebootWaitingForApproval'));
    expect(state).toMatchObject({ version: 2, kind: 'reboot', status: 'running', step: 1, halt: null });
    expect(state.steps).toEqual([{ machines: ['nas'] }, { machines: ['db'] }]);
    const db = state.progress.db;
    expect(db).toMatchObject({ phase: 'confirmation', delayUntil: expect.any(Number), bootIdBefore: null });
    const asked = v1.rebootWaitingForApproval?.progress?.db?.approvalAskedAt;
    expect(db?.approval).toEqual({ approved: false, approvals: [], askedAt: asked, approvedAt: null });
    expect(db).not.toHaveProperty('confirmed');
    expect(db).not.toHaveProperty('approvalAskedAt');
    expect(state.progress.nas).toMatchObject({ phase: 'succeeded', bootIdAfter: 'boot-nas-1' });
    expect(state.settings.confirmLevels).toEqual(['high', 'critical']);
    expect(state.abortReason).toBeNull();
  });

  it('a reboot coming back keeps its boot ids and reboot time; its approval stays approved, with who', () => {
    const old = fixture('rebootComingBack') as { progress: Record<string, Record<string, unknown>> };
    const state = readRunState(old);
    const nas = state.progress.nas;
    expect(nas).toMatchObject({
      phase: 'coming-back',
      bootIdBefore: old.progress.nas?.bootIdBefore,
      rebootSentAt: old.progress.nas?.rebootSentAt,
    });
    expect(state.progress.db?.phase).toBe('pending');
    expect(state.progress.db?.approval.approved).toBe(false);
  });

  it('a reboot coming back has had no automatic power recovery yet (powerRecovery null: it may get one)', () => {
    const state = readRunState(fixture('rebootComingBack'));
    expect(state.progress.nas?.powerRecovery).toBeNull();
    expect(state.progress.db?.powerRecovery).toBeNull();
  });

  it('a halted deploy: approvals[] is approved, the steps keep their strategy, the halt gets its decisions', () => {
    const state = readRunState(fixture('deployHalted'));
    expect(state).toMatchObject({ version: 2, kind: 'deploy', status: 'halted', needsReboot: [] });
    expect(state.steps).toEqual([
      { machines: ['cache'], strategy: 'rolling' },
      { machines: ['web'], strategy: 'rolling' },
    ]);
    expect(state.systems).toEqual({ cache: '/new/cache', web: '/new/web' });
    expect(state.halt).toMatchObject({
      machine: 'web',
      phase: 'health',
      decisions: ['retry', 'skip', 'abort'],
    });
    const web = state.progress.web;
    expect(web?.approval).toMatchObject({ approved: true, approvals: [{ by: 'carol' }] });
    expect(web).toMatchObject({ phase: 'failed', finishedAt: null, rollback: { ok: true } });
    // cache needed no approval: null approvals is "not approved" (nothing was asked).
    expect(state.progress.cache?.approval).toEqual({
      approved: false,
      approvals: [],
      askedAt: null,
      approvedAt: null,
    });
    expect(state.settings).toMatchObject({ healthTimeout: 0, confirmLevels: ['high', 'critical'] });
  });

  it('a deploy halted at its build allows retry and abort only', () => {
    const state = readRunState(fixture('deployBuildHalted'));
    expect(state.halt).toMatchObject({ machine: null, phase: 'build', decisions: ['retry', 'abort'] });
    expect(state.progress.web?.error).toEqual({ phase: 'build', reason: 'builder failed' });
    expect(state.settings.confirmLevels).toEqual([]);
  });

  it('a health run: results become each machine’s progress (result and phase)', () => {
    const old = fixture('healthFinished') as { results: Record<string, unknown> };
    const state = readRunState(old);
    expect(state).toMatchObject({ version: 2, kind: 'health', status: 'succeeded', abortReason: null });
    expect(state.steps).toEqual([{ machines: ['nas', 'db'] }]);
    expect(state.progress.nas).toMatchObject({ phase: 'healthy', result: old.results.nas, error: null });
    expect(state).not.toHaveProperty('results');
  });

  it('keeps every plan id (approvals and Start buttons name them)', () => {
    for (const name of Object.keys(v1)) {
      const old = fixture(name) as { kind: 'reboot'; steps: unknown[]; machines: Record<string, never> };
      // The id the previous version computed: planIdOf over its own steps.
      const before = planId(old as never);
      expect(planId(readRunState(fixture(name))), name).toBe(before);
    }
  });

  it('gives a version 2 state written before the maintenance window fields their defaults', () => {
    const state = readRunState(fixture('rebootWaitingForApproval'));
    const before = structuredClone(state) as unknown as { progress: Record<string, Record<string, unknown>> };
    for (const progress of Object.values(before.progress)) {
      delete progress.windowWait;
      delete progress.windowWaits;
      delete progress.windowForcedBy;
    }
    const read = readRunState(before);
    for (const name of ['nas', 'db'])
      expect(read.progress[name]).toMatchObject({ windowWait: null, windowWaits: [], windowForcedBy: null });
    expect(read.progress.db?.phase).toBe('confirmation');
  });

  it('reads a version 2 state as it is, and refuses what it cannot read', () => {
    const state = readRunState(fixture('deployHalted'));
    expect(readRunState(state)).toBe(state);
    expect(() => readRunState({ ...state, version: 3 })).toThrow(UnknownRunStateError);
    expect(() => readRunState({ ...state, version: 3 })).toThrow(/version 3.*newer version of lab/);
    expect(() => readRunState(null)).toThrow(UnknownRunStateError);
  });
});
