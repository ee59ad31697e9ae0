import { failureReason } from '../../domain/monitor/machine-watch.js';
import { formatDuration, type Silence } from '../../domain/monitor/silence.js';
import type { MonitorRow } from '../../orchestration/monitor/monitor-client.js';
import { type Style, table } from './style.js';

/** The monitor's view in `lab status --json` (an addition to its document): stable fields. */
export function monitorJson(rows: readonly MonitorRow[], silences: readonly Silence[]) {
  return {
    machines: rows.map(({ machine, view, watch, silence }) => ({
      name: machine,
      status: view,
      since: watch?.since ? new Date(watch.since).toISOString() : null,
      failures: watch?.failures ?? 0,
      successes: watch?.successes ?? 0,
      lastCheckAt: watch?.last ? new Date(watch.last.at).toISOString() : null,
      failing: watch?.last && !watch.last.ok ? failureReason(watch.last) : null,
      incident: watch?.incident?.id ?? null,
      run: watch?.run ?? null,
      silence: silence?.id ?? null,
    })),
    silences: silences.map(silenceJson),
  };
}

export const silenceJson = (silence: Silence) => ({
  id: silence.id,
  target: silence.target,
  reason: silence.reason,
  by: silence.by.name,
  createdAt: new Date(silence.createdAt).toISOString(),
  until: new Date(silence.until).toISOString(),
});

/** One row per machine: what the monitor says of it, since when, the last check. */
export function monitorText(rows: readonly MonitorRow[], style: Style, now = Date.now()): string[] {
  if (rows.length === 0) return ['Monitor: no machines.'];
  const body = rows.map(({ machine, view, watch, silence }) => {
    const detail =
      view === 'in a run'
        ? `run ${watch?.run}`
        : view === 'silenced'
          ? `${silence?.reason} (by ${silence?.by.name}, ${formatDuration((silence?.until ?? now) - now)} left)`
          : watch?.last && !watch.last.ok
            ? failureReason(watch.last)
            : '';
    return [
      machine,
      view,
      watch?.since ? `${formatDuration(now - watch.since)} ago` : '-',
      watch?.last ? `${formatDuration(now - watch.last.at)} ago` : 'never',
      detail,
    ];
  });
  const [header, ...lines] = table([['MACHINE', 'MONITOR', 'SINCE', 'CHECKED', 'DETAIL'], ...body]);
  return [
    style.bold(header ?? ''),
    ...lines.map((line, index) => {
      const view = rows[index]?.view;
      return view === 'unhealthy' || view === 'unreachable' ? style.red(line) : line;
    }),
  ];
}

export function silencesText(silences: readonly Silence[], style: Style, now = Date.now()): string[] {
  if (silences.length === 0) return ['No silences.'];
  const [header, ...lines] = table([
    ['ID', 'TARGET', 'LEFT', 'BY', 'REASON'],
    ...silences.map((silence) => [
      silence.id,
      silence.target,
      formatDuration(silence.until - now),
      silence.by.name,
      silence.reason,
    ]),
  ]);
  return [style.bold(header ?? ''), ...lines];
}
