import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import {
  type MachineTimeline,
  timelineSegments,
  timelineText,
} from '../../src/orchestration/machine-timeline.js';
import { newProgress } from '../../src/orchestration/run-state.js';
import { timelinesOfRun } from '../../src/orchestration/run-timeline.js';
import {
  TIMELINE_COLORS,
  TIMELINE_LAYOUT,
  timelinePng,
  timelineSpan,
  timelineX,
} from '../../src/orchestration/timeline-image.js';

const run = promisify(execFile);

const T0 = Date.parse('2026-01-03T02:00:00Z');
const s = (seconds: number) => T0 + seconds * 1000;

/** A night's run: nas quick; db waits its delay and an approval, then is down long. */
const state = {
  kind: 'reboot' as const,
  steps: [{ machines: ['nas'] }, { machines: ['db'] }, { machines: ['web'] }],
  progress: {
    nas: {
      ...newProgress(),
      phase: 'succeeded' as const,
      startedAt: s(0),
      delayUntil: s(0),
      rebootSentAt: s(1),
      downAt: s(2),
      downMs: 8000,
      healthyAt: s(12),
      finishedAt: s(12),
    },
    db: {
      ...newProgress(),
      phase: 'succeeded' as const,
      startedAt: s(12),
      delayUntil: s(72),
      approval: { approved: true, approvals: [], askedAt: s(72), approvedAt: s(132) },
      rebootSentAt: s(133),
      downAt: s(134),
      downMs: 45_000,
      healthyAt: s(184),
      finishedAt: s(185),
    },
    web: { ...newProgress() },
  },
};

describe('the run report', () => {
  const timelines = timelinesOfRun(state);

  it('the adapter reads waits, down, back and healthy from the run state, in run order', () => {
    expect(timelines.map((t) => t.machine)).toEqual(['nas', 'db', 'web']);
    expect(timelines[1]).toEqual({
      machine: 'db',
      outcome: 'rebooted',
      startedAt: s(12),
      waits: [
        { kind: 'delay', from: s(12), to: s(72) },
        { kind: 'approval', from: s(72), to: s(132) },
      ],
      actionAt: s(133),
      downAt: s(134),
      backAt: s(179),
      healthyAt: s(184),
      finishedAt: s(185),
    } satisfies MachineTimeline);
    expect(timelines[2]).toMatchObject({ outcome: 'not touched', startedAt: null, waits: [], downAt: null });
    expect(
      timelineSegments(timelines[1] as MachineTimeline).map((seg) => [seg.kind, (seg.to - seg.from) / 1000]),
    ).toEqual([
      ['delay', 60],
      ['approval', 60],
      ['going-down', 1],
      ['down', 45],
      ['checks', 5],
    ]);
  });

  it('the wait for the maintenance window comes first; the rebootDelay runs from its end', () => {
    const [timeline] = timelinesOfRun({
      kind: 'reboot',
      steps: [{ machines: ['db'] }],
      progress: {
        db: {
          ...newProgress(),
          phase: 'succeeded',
          startedAt: s(0),
          windowWaits: [{ from: s(0), to: s(600) }],
          delayUntil: s(660),
          rebootSentAt: s(661),
          finishedAt: s(700),
        },
      },
    });
    expect(timeline?.waits).toEqual([
      { kind: 'window', from: s(0), to: s(600) },
      { kind: 'delay', from: s(600), to: s(660) },
    ]);
  });

  it('text: each machine with its waits and durations, the longest marked', () => {
    expect(timelineText(timelines, T0)).toEqual([
      'nas  +0:00  down 8.0 s · back +0:10 · healthy +0:12 · 12.0 s · rebooted',
      'db   +0:12  waited delay 1 min 0 s, approval 1 min 0 s · down 45.0 s · back +2:59 · healthy +3:04 · 2 min 53 s (longest) · rebooted',
      'web    —    not touched',
    ]);
  });

  it('PNG: decodes to the layout’s size, with each segment’s colour where its bar is', async () => {
    const png = PNG.sync.read(await timelinePng(timelines, T0));
    const { width, top, bottom, rowHeight } = TIMELINE_LAYOUT;
    expect(png.width).toBe(width);
    expect(png.height).toBe(top + bottom + rowHeight * 3);
    const pixel = (x: number, y: number) => {
      const i = (Math.round(y) * png.width + Math.round(x)) * 4;
      return `#${[0, 1, 2].map((c) => (png.data[i + c] as number).toString(16).padStart(2, '0')).join('')}`;
    };
    const [start, end] = timelineSpan(timelines, T0);
    const middle = (row: number, from: number, to: number) =>
      pixel(
        (timelineX(from, start, end) + timelineX(to, start, end)) / 2,
        top + row * rowHeight + rowHeight / 2,
      );
    expect(middle(1, s(12), s(72))).toBe(TIMELINE_COLORS.delay);
    expect(middle(1, s(72), s(132))).toBe(TIMELINE_COLORS.approval);
    expect(middle(1, s(134), s(179))).toBe(TIMELINE_COLORS.down);
    expect(middle(1, s(179), s(183))).toBe(TIMELINE_COLORS.checks);
    expect(middle(0, s(2), s(10))).toBe(TIMELINE_COLORS.down);
    expect(pixel(timelineX(s(184), start, end), top + rowHeight + rowHeight / 2)).toBe(
      TIMELINE_COLORS.healthy,
    );
    // web's row has no bar: background where db's are.
    expect(middle(2, s(134), s(179))).toBe(TIMELINE_COLORS.background);
    const colours = new Set<string>();
    for (let y = 0; y < png.height; y += 2) for (let x = 0; x < png.width; x += 2) colours.add(pixel(x, y));
    expect(colours.size).toBeGreaterThan(6);
  });

  it('PNG on a machine without fonts: the machine names are drawn (lab ships its font)', async () => {
    // A mount namespace whose font directories are empty, as on a minimal server or container.
    const hide = ['/usr/share/fonts', '/usr/local/share/fonts']
      .filter((dir) => existsSync(dir))
      .map((dir) => `mount -t tmpfs none ${dir}`);
    const probe = fileURLToPath(new URL('../support/timeline-png-probe.ts', import.meta.url));
    const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
    // Root (CI) can make a mount namespace as it is; anyone else does it in a user namespace of
    // their own (which a chrooted process may not create).
    const asRoot = process.getuid?.() === 0;
    const { stdout } = await run('unshare', [
      ...(asRoot ? [] : ['--user', '--map-root-user']),
      '--mount',
      'sh',
      '-c',
      [...hide, 'exec "$0" "$1"'].join(' && '),
      tsx,
      probe,
    ]);
    const png = PNG.sync.read(Buffer.from(stdout, 'base64'));
    const { top, rowHeight, labelWidth } = TIMELINE_LAYOUT;
    // Text-coloured pixels in the label column of nas's row: its name.
    let dark = 0;
    for (let y = top; y < top + rowHeight; y += 1)
      for (let x = 0; x < labelWidth; x += 1) {
        const i = (y * png.width + x) * 4;
        if ((png.data[i] as number) < 128 && (png.data[i + 1] as number) < 128) dark += 1;
      }
    expect(dark).toBeGreaterThan(20);
  });
});
