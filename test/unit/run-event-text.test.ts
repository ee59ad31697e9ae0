import { describe, expect, it } from 'vitest';
import {
  type EventText,
  eventText,
  PLAIN_FORMAT,
  type TextFormat,
} from '../../src/orchestration/run-event-text.js';
import type { RunEvent, RunEventInput } from '../../src/orchestration/run-events.js';

const at = '2026-11-27T04:00:00.000Z';
const stamp = (input: RunEventInput): RunEvent =>
  ({ ...input, runId: 'r1', at, elapsedMs: 1_500 }) as RunEvent;
const previous = '/nix/store/0qi9ikxz3jxxizf49vzp098biw5jff7m-nixos-system-db-4';
const next = '/nix/store/1ab2ikxz3jxxizf49vzp098biw5jff7m-nixos-system-db-5';
const verified = {
  system: previous,
  current: previous,
  profile: previous,
  generation: 4,
  bootDefault: previous,
  bootLoader: 'systemd-boot' as const,
  bootUnknown: null,
  healthy: true,
};
const db = (text: string, tone: EventText['tone'], alarm?: string): EventText => ({
  subject: 'db',
  about: 'machine',
  text,
  tone,
  ...(alarm ? { alarm } : {}),
});
const run = (text: string, tone: EventText['tone'], alarm?: string): EventText => ({
  subject: 'run',
  about: 'run',
  text,
  tone,
  ...(alarm ? { alarm } : {}),
});
const build = (text: string, tone: EventText['tone']): EventText => ({
  subject: 'build',
  about: 'build',
  text,
  tone,
});

/**
 * Every event type with its words (PLAIN_FORMAT). A new event type without an entry here does
 * not type-check (`satisfies` a record over every `RunEvent['type']`), and one without words in
 * `eventText` does not either (its switch must return for every type).
 */
const cases = {
  'run.started': [
    [
      { type: 'run.started', kind: 'reboot', steps: [['db'], ['web', 'nas']] },
      run('started: a reboot of 3 machines in 2 steps', 'info'),
    ],
    [
      { type: 'run.started', kind: 'health', steps: [['db']] },
      run('started: a health check of 1 machine in 1 step', 'info'),
    ],
  ],
  'step.started': [
    [
      { type: 'step.started', step: 2, machines: ['web', 'nas'] },
      { subject: 'step 2', about: 'step', text: 'web, nas', tone: 'info' },
    ],
  ],
  'machine.waiting': [
    [
      { type: 'machine.waiting', machine: 'db', reason: 'delay', seconds: 60 },
      db('waiting 60 s (rebootDelay)', 'info'),
    ],
    [
      { type: 'machine.waiting', machine: 'db', reason: 'confirmation' },
      db('waiting for confirmation', 'info'),
    ],
    [
      {
        type: 'machine.waiting',
        machine: 'db',
        reason: 'approval',
        required: 2,
        approvals: [{ by: 'bob', at }],
        expiresAt: '2026-11-27T04:30:00.000Z',
      },
      db('waits for approval: 1 of 2 (bob), expires 2026-11-27T04:30:00.000Z', 'warn'),
    ],
    [
      {
        type: 'machine.waiting',
        machine: 'db',
        reason: 'approval',
        required: 1,
        approvals: [],
        expiresAt: '2026-11-27T04:30:00.000Z',
      },
      db('waits for approval: 0 of 1, expires 2026-11-27T04:30:00.000Z', 'warn'),
    ],
    [
      {
        type: 'machine.waiting',
        machine: 'db',
        reason: 'window',
        opensAt: '2026-11-28T01:00:00.000Z',
        closesAt: '2026-11-28T05:00:00.000Z',
        why: 'outside its window (daily 01:00-05:00 UTC)',
      },
      db(
        'waits for its window, opens 2026-11-28T01:00:00.000Z (outside its window (daily 01:00-05:00 UTC))',
        'info',
      ),
    ],
  ],
  'machine.window-forced': [
    [
      { type: 'machine.window-forced', machine: 'db', by: 'alice' },
      db('starts outside its window: Start now by alice', 'warn'),
    ],
  ],
  'machine.confirmed': [
    [
      {
        type: 'machine.confirmed',
        machine: 'db',
        approvals: [
          { by: 'bob', at },
          { by: 'carol', at },
        ],
      },
      db('approved by bob, carol', 'info'),
    ],
    [{ type: 'machine.confirmed', machine: 'db', approvals: [] }, db('confirmed', 'info')],
  ],
  'machine.rebooting': [
    [
      { type: 'machine.rebooting', machine: 'db', bootId: '1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d' },
      db('rebooting (boot 1a2b3c4d)', 'info'),
    ],
  ],
  'machine.down': [[{ type: 'machine.down', machine: 'db' }, db('down', 'info')]],
  'machine.up': [
    [
      {
        type: 'machine.up',
        machine: 'db',
        bootId: '9f8e7d6c-0000-0000-0000-000000000000',
        previousBootId: '1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d',
        downMs: 42_000,
      },
      db('up again with boot 9f8e7d6c, down for 42 s', 'info'),
    ],
  ],
  'machine.health': [
    [
      {
        type: 'machine.health',
        machine: 'db',
        ok: false,
        attempt: 3,
        checks: [
          { name: 'tcp 5432', type: 'tcp', ok: true, latencyMs: 3, error: null },
          { name: 'http /', type: 'http', ok: false, latencyMs: 10, error: 'HTTP 502' },
        ],
      },
      db('health not yet: tcp 5432 ok (3 ms), http / FAILED (HTTP 502)', 'warn'),
    ],
    [
      { type: 'machine.health', machine: 'db', ok: true, attempt: 1, checks: [] },
      db('health ok: no checks; SSH answers', 'good'),
    ],
    [
      { type: 'machine.health', machine: 'db', ok: false, attempt: 1, checks: [] },
      db('health not yet: SSH does not answer', 'warn'),
    ],
  ],
  'machine.succeeded': [
    [
      {
        type: 'machine.succeeded',
        machine: 'db',
        what: 'rebooted',
        durationMs: 200_000,
        downMs: 1_200,
        healthyMs: 3_400,
        approvalWaitMs: 120_000,
      },
      db('rebooted: down 1.2 s, healthy 3.4 s after the reboot command (approved after 2 min)', 'good'),
    ],
    [
      { type: 'machine.succeeded', machine: 'db', what: 'deployed', durationMs: 45_000 },
      db('deployed and healthy in 45 s', 'good'),
    ],
  ],
  'machine.failed': [
    [
      { type: 'machine.failed', machine: 'db', phase: 'health', reason: 'tcp 5432 refused' },
      db('failed at health: tcp 5432 refused', 'bad', 'failed'),
    ],
  ],
  'machine.skipped': [
    [
      { type: 'machine.skipped', machine: 'db', reason: 'skipped by bob after its failure' },
      db('skipped: skipped by bob after its failure', 'dim'),
    ],
  ],
  'machine.power': [
    [
      {
        type: 'machine.power',
        machine: 'db',
        action: 'cycle',
        trigger: 'recovery',
        by: null,
        ok: true,
        reason: null,
        steps: [
          {
            method: 'command cycle',
            argv: ['plug', 'cycle'],
            target: null,
            exitCode: 0,
            output: 'switched\n',
            durationMs: 40,
            ok: true,
            reason: null,
          },
        ],
      },
      db("power cycle by lab's recovery (it did not come back): command cycle: exit 0 (switched)", 'warn'),
    ],
    [
      {
        type: 'machine.power',
        machine: 'db',
        action: 'off',
        trigger: 'operator',
        by: 'alice',
        ok: false,
        reason: 'db: power off with command.off failed: exit 1',
        steps: [],
      },
      db('power off by alice FAILED: db: power off with command.off failed: exit 1', 'bad'),
    ],
  ],
  'deploy.building': [
    [{ type: 'deploy.building', machines: ['db', 'web'] }, build('started: 2 systems (db, web)', 'info')],
  ],
  'deploy.built': [[{ type: 'deploy.built', systems: { db: next } }, build('succeeded: 1 system', 'good')]],
  'machine.copying': [
    [{ type: 'machine.copying', machine: 'db', system: next }, db('copying nixos-system-db-5', 'info')],
    [
      {
        type: 'machine.copying',
        machine: 'db',
        system: next,
        ahead: true,
        copyStartedAt: '2026-11-27T03:59:50.000Z',
        copiedAt: '2026-11-27T03:59:54.500Z',
      },
      db('copied nixos-system-db-5 ahead of its turn (in 4.5 s, 5.5 s before)', 'info'),
    ],
    [
      {
        type: 'machine.copying',
        machine: 'db',
        system: next,
        ahead: true,
        copyStartedAt: '2026-11-27T03:59:58.000Z',
        copiedAt: null,
      },
      db('copying nixos-system-db-5 (begun 2.0 s before its turn)', 'info'),
    ],
  ],
  'machine.activating': [
    [
      { type: 'machine.activating', machine: 'db', action: 'test', system: next },
      db('activating (test) nixos-system-db-5', 'info'),
    ],
    [
      { type: 'machine.activating', machine: 'db', action: 'boot', system: next },
      db('committing: nixos-system-db-5 becomes the boot default (boot)', 'info'),
    ],
  ],
  'machine.rolling-back': [
    [
      { type: 'machine.rolling-back', machine: 'db', to: previous, generation: 4 },
      db('rolling back to nixos-system-db-4 (profile generation 4)', 'warn'),
    ],
    [
      { type: 'machine.rolling-back', machine: 'db', to: null },
      db('rolling back to the previous system', 'warn'),
    ],
  ],
  'machine.rolled-back': [
    [
      { type: 'machine.rolled-back', machine: 'db', ok: true, reason: null, verified },
      db(
        'rolled back: runs nixos-system-db-4; its profile, generation 4, points at it; ' +
          'its boot default (systemd-boot) is it; healthy',
        'warn',
      ),
    ],
    [
      { type: 'machine.rolled-back', machine: 'db', ok: true, reason: null },
      db('rolled back: the previous system runs and is healthy', 'warn'),
    ],
    [
      { type: 'machine.rolled-back', machine: 'db', ok: false, reason: 'the switch failed', verified: null },
      db('rollback failed: the switch failed', 'bad', 'rollback failed'),
    ],
  ],
  'machine.needs-reboot': [
    [
      { type: 'machine.needs-reboot', machine: 'db', changed: ['kernel', 'initrd'] },
      db('needs a reboot (kernel, initrd changed)', 'warn'),
    ],
  ],
  'step.finished': [[{ type: 'step.finished', step: 1, ok: true }, null]],
  'run.halted': [
    [
      {
        type: 'run.halted',
        machine: 'db',
        phase: 'health',
        reason: 'tcp 5432 refused',
        checks: [],
        decisions: ['retry', 'skip', 'abort'],
        expiresAt: '2026-11-27T05:00:00.000Z',
      },
      run('halted: db failed at health', 'bad', 'halted'),
    ],
    [
      {
        type: 'run.halted',
        machine: null,
        machines: ['web'],
        phase: 'build',
        reason: 'build failed',
        checks: [],
        decisions: ['retry', 'abort'],
        expiresAt: '2026-11-27T05:00:00.000Z',
      },
      run('halted: the build (web) failed: build failed', 'bad', 'halted'),
    ],
  ],
  'run.decided': [
    [{ type: 'run.decided', decision: 'retry', by: 'alice' }, run('decided: retry (by alice)', 'info')],
  ],
  'run.cancelling': [
    [
      { type: 'run.cancelling', reason: 'cancelled by bob', finishing: ['db'] },
      run('cancelling (cancelled by bob): nothing new starts; db is seen to the end first', 'warn'),
    ],
  ],
  'run.finished': [
    [
      {
        type: 'run.finished',
        status: 'succeeded',
        failure: null,
        pending: [],
        reason: null,
        outcomes: [
          { machine: 'db', outcome: 'rebooted' },
          { machine: 'web', outcome: 'skipped' },
        ],
      },
      run('succeeded; skipped: web', 'good'),
    ],
    [
      {
        type: 'run.finished',
        status: 'failed',
        failure: { machine: 'db', phase: 'health', reason: 'tcp 5432 refused' },
        pending: ['web'],
        reason: null,
        outcomes: [
          { machine: 'db', outcome: 'failed' },
          { machine: 'web', outcome: 'not touched' },
        ],
      },
      run('failed at db (health): tcp 5432 refused; not touched: web', 'bad'),
    ],
    [
      {
        type: 'run.finished',
        status: 'failed',
        failure: { machine: 'db', phase: 'health', reason: 'tcp 5432 refused' },
        pending: [],
        reason: 'nobody retried, skipped or aborted within 3600 s',
        outcomes: [{ machine: 'db', outcome: 'failed' }],
      },
      run(
        'failed: nobody retried, skipped or aborted within 3600 s; db failed at health: tcp 5432 refused',
        'bad',
      ),
    ],
    [
      {
        type: 'run.finished',
        status: 'cancelled',
        failure: null,
        pending: ['web'],
        reason: 'cancelled by bob',
        outcomes: [
          { machine: 'db', outcome: 'rebooted' },
          { machine: 'web', outcome: 'not touched' },
        ],
      },
      run('cancelled: cancelled by bob; rebooted: db; not touched: web', 'warn'),
    ],
    [
      {
        type: 'run.finished',
        status: 'aborted',
        failure: { machine: 'db', phase: 'health', reason: 'tcp 5432 refused' },
        pending: [],
        reason: 'aborted by bob after db failed',
        outcomes: [{ machine: 'db', outcome: 'failed' }],
      },
      run('aborted: aborted by bob after db failed; db failed at health: tcp 5432 refused', 'bad'),
    ],
  ],
} satisfies { [K in RunEvent['type']]: readonly [Extract<RunEventInput, { type: K }>, EventText | null][] };

describe('the words of every run event', () => {
  for (const [type, list] of Object.entries(cases)) {
    it(type, () => {
      expect(list.length).toBeGreaterThan(0);
      for (const [input, words] of list as readonly [RunEventInput, EventText | null][]) {
        expect(eventText(stamp(input))).toEqual(words);
        // The alarm is where the words begin, so a sink can set it apart without other words.
        if (words?.alarm) expect(words.text.startsWith(words.alarm)).toBe(true);
      }
    });
  }
});

/** A sink that marks what it formats, to show that the words around them stay the same. */
const marked: TextFormat = {
  duration: (ms) => `<${ms} ms>`,
  time: (iso) => `<${iso}>`,
  machine: (name) => `*${name}*`,
  aside: (text) => ` · ${text}`,
  layout: 'sentence',
};

describe('what a sink formats', () => {
  it('durations, times, side remarks and the failed machine, not the words around them', () => {
    const words = (input: RunEventInput) => eventText(stamp(input), marked)?.text;
    expect(
      words({
        type: 'machine.succeeded',
        machine: 'db',
        what: 'rebooted',
        durationMs: 9,
        healthyMs: 5,
        approvalWaitMs: 7,
      }),
    ).toBe('rebooted: healthy <5 ms> after the reboot command · approved after <7 ms>');
    expect(
      words({
        type: 'machine.waiting',
        machine: 'db',
        reason: 'approval',
        required: 1,
        approvals: [],
        expiresAt: at,
      }),
    ).toBe(`waits for approval: 0 of 1, expires <${at}>`);
    expect(
      words({
        type: 'run.halted',
        machine: 'db',
        phase: 'health',
        reason: 'refused',
        checks: [],
        decisions: ['retry'],
        expiresAt: at,
      }),
    ).toBe('halted: *db* failed at health');
  });

  it('as a sentence, a failed run names its failure as the other ends do, and a reason is not said twice', () => {
    const finished = (fields: Partial<Extract<RunEventInput, { type: 'run.finished' }>>) =>
      eventText(
        stamp({
          type: 'run.finished',
          status: 'failed',
          failure: null,
          pending: [],
          reason: null,
          outcomes: [],
          ...fields,
        }),
        marked,
      )?.text;
    expect(finished({ failure: { machine: 'db', phase: 'health', reason: 'refused' } })).toBe(
      'failed: *db* failed at health: refused',
    );
    expect(
      finished({ failure: { machine: null, machines: ['web'], phase: 'build', reason: 'nix failed' } }),
    ).toBe('failed: the build (web) failed: nix failed');
    expect(finished({ status: 'cancelled', reason: 'cancelled by alice' })).toBe('cancelled by alice');
    expect(finished({ status: 'cancelled', reason: 'db was denied by carol' })).toBe(
      'cancelled: db was denied by carol',
    );
    expect(
      finished({
        status: 'aborted',
        reason: 'aborted by bob after db failed',
        failure: { machine: 'db', phase: 'health', reason: 'refused' },
      }),
    ).toBe('aborted by bob after db failed; *db* failed at health: refused');
  });

  it('PLAIN_FORMAT is the default', () => {
    const event = stamp({
      type: 'machine.up',
      machine: 'db',
      bootId: 'b',
      previousBootId: 'a',
      downMs: 1_000,
    });
    expect(eventText(event)).toEqual(eventText(event, PLAIN_FORMAT));
  });
});
