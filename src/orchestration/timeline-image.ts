import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LabError } from '../errors.js';
import {
  formatDuration,
  type MachineTimeline,
  type SegmentKind,
  timelineSegments,
} from './machine-timeline.js';

/** The colours of the run report's picture, one per kind of segment (and the healthy mark). */
export const TIMELINE_COLORS: Readonly<
  Record<SegmentKind | 'healthy' | 'background' | 'text' | 'grid', string>
> = {
  delay: '#9ca3af',
  approval: '#eab308',
  window: '#a855f7',
  'going-down': '#f97316',
  down: '#ef4444',
  checks: '#3b82f6',
  healthy: '#22c55e',
  background: '#ffffff',
  text: '#111827',
  grid: '#e5e7eb',
};

const LEGEND = [
  ['delay', 'delay'],
  ['approval', 'approval'],
  ['window', 'window'],
  ['going-down', 'going down'],
  ['down', 'down'],
  ['checks', 'health checks'],
  ['healthy', 'healthy'],
] as const;

/** The picture's layout in pixels: what a test needs to find the bars. */
export const TIMELINE_LAYOUT = {
  width: 800,
  labelWidth: 140,
  rowHeight: 28,
  barHeight: 16,
  top: 24,
  bottom: 24,
  right: 16,
};

/**
 * The font the picture's words are drawn in, shipped with lab (assets/fonts, beside src/ and
 * dist/), so that a machine without fonts still gets the names and times: DejaVu Sans.
 */
export const TIMELINE_FONT_FILE = fileURLToPath(
  new URL('../../assets/fonts/DejaVuSans.ttf', import.meta.url),
);
const FONT_FAMILY = 'Lab DejaVu Sans';
/** The CSS font family list: lab's own font, then whatever the system has. */
const FAMILIES = `"${FONT_FAMILY}", sans-serif`;
let fontRegistered = false;

/** The PNG could not be drawn (the drawing library is missing on this platform, say): the text report still stands. */
export class TimelineImageError extends LabError {}

/** Where a moment falls on the picture's time axis (x in pixels). */
export function timelineX(at: number, start: number, end: number): number {
  const { width, labelWidth, right } = TIMELINE_LAYOUT;
  const span = Math.max(1, end - start);
  return labelWidth + ((at - start) / span) * (width - labelWidth - right);
}

/** The picture's time span: from the run's start to the last moment any machine has. */
export function timelineSpan(timelines: readonly MachineTimeline[], runStartedAt: number): [number, number] {
  const moments = timelines.flatMap((t) => [
    t.finishedAt,
    t.healthyAt,
    t.backAt,
    t.downAt,
    t.actionAt,
    ...t.waits.map((w) => w.to),
  ]);
  const end = Math.max(runStartedAt + 1000, ...moments.filter((m): m is number => m !== null));
  return [runStartedAt, end];
}

/**
 * The run report as a small PNG: a row per machine, its waits and its time down and coming back
 * as coloured bars on one time axis from the run's start, a green mark where it was healthy, its
 * name and total on the left. Drawn with @napi-rs/canvas (Skia, prebuilt), loaded only when a
 * picture is asked for; where it cannot be loaded this fails with a TimelineImageError and the
 * text report is all there is.
 */
export async function timelinePng(
  timelines: readonly MachineTimeline[],
  runStartedAt: number,
): Promise<Buffer> {
  let canvasModule: typeof import('@napi-rs/canvas');
  try {
    canvasModule = await import('@napi-rs/canvas');
  } catch (error) {
    throw new TimelineImageError(
      `the run report's picture needs @napi-rs/canvas, which could not be loaded here: ${(error as Error).message}`,
    );
  }
  // Once per process; a missing file (a packaging mistake) leaves the system's fonts.
  if (!fontRegistered && existsSync(TIMELINE_FONT_FILE))
    fontRegistered = canvasModule.GlobalFonts.registerFromPath(TIMELINE_FONT_FILE, FONT_FAMILY) !== null;
  const { width, labelWidth, rowHeight, barHeight, top, bottom } = TIMELINE_LAYOUT;
  const height = top + bottom + rowHeight * Math.max(1, timelines.length);
  const canvas = canvasModule.createCanvas(width, height);
  const g = canvas.getContext('2d');
  const [start, end] = timelineSpan(timelines, runStartedAt);
  const x = (at: number) => timelineX(at, start, end);

  g.fillStyle = TIMELINE_COLORS.background;
  g.fillRect(0, 0, width, height);
  // Grid lines at quarters of the span, with their offsets.
  g.font = `11px ${FAMILIES}`;
  for (let quarter = 0; quarter <= 4; quarter += 1) {
    const at = start + ((end - start) * quarter) / 4;
    g.fillStyle = TIMELINE_COLORS.grid;
    g.fillRect(Math.round(x(at)), top - 4, 1, height - top - bottom + 8);
    g.fillStyle = TIMELINE_COLORS.text;
    g.fillText(formatDuration(at - start), Math.min(width - 60, x(at) + 2), top - 8);
  }
  timelines.forEach((timeline, row) => {
    const y = top + row * rowHeight + (rowHeight - barHeight) / 2;
    g.fillStyle = TIMELINE_COLORS.text;
    g.font = `13px ${FAMILIES}`;
    g.fillText(timeline.machine, 8, y + barHeight - 3, labelWidth - 16);
    for (const segment of timelineSegments(timeline)) {
      g.fillStyle = TIMELINE_COLORS[segment.kind];
      const from = x(segment.from);
      g.fillRect(from, y, Math.max(2, x(segment.to) - from), barHeight);
    }
    if (timeline.healthyAt !== null) {
      g.fillStyle = TIMELINE_COLORS.healthy;
      g.fillRect(x(timeline.healthyAt) - 2, y - 3, 4, barHeight + 6);
    }
  });
  // A legend along the bottom: what each colour means.
  let legendX = labelWidth;
  const legendY = height - bottom + 8;
  g.font = `11px ${FAMILIES}`;
  for (const [kind, label] of LEGEND) {
    g.fillStyle = TIMELINE_COLORS[kind];
    g.fillRect(legendX, legendY, 10, 10);
    g.fillStyle = TIMELINE_COLORS.text;
    g.fillText(label, legendX + 14, legendY + 9);
    legendX += 14 + label.length * 6 + 14;
  }
  return canvas.encode('png');
}
