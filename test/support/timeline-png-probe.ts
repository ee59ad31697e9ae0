/**
 * Draws a one-machine run report and writes the PNG to stdout, base64: run by run-timeline.test.ts
 * in a mount namespace where the system's font directories are empty (a machine without fonts).
 */
import { timelinePng } from '../../src/orchestration/timeline-image.js';

const t0 = Date.parse('2026-01-03T02:00:00Z');
const png = await timelinePng(
  [
    {
      machine: 'nas',
      outcome: 'rebooted',
      startedAt: t0,
      waits: [],
      actionAt: t0 + 1000,
      downAt: t0 + 2000,
      backAt: t0 + 5000,
      healthyAt: t0 + 6000,
      finishedAt: t0 + 6000,
    },
  ],
  t0,
);
process.stdout.write(png.toString('base64'));
