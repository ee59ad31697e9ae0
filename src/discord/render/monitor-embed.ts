import type { APIEmbed } from 'discord.js';
import { failureReason } from '../../domain/monitor/machine-watch.js';
import type { MonitorRow } from '../../orchestration/monitor/monitor-client.js';
import { COLOR, clip, when } from './colors.js';

/** Discord's limit for an embed's description. */
export const DESCRIPTION_LIMIT = 4096;

/**
 * `/lab status`'s view of the monitor: the healthy machines counted, each failing, silenced or
 * in-run machine on a line, those not checked yet by name, and when the monitor last checked.
 * `rows` null: no worker has read the flake's machines yet, so there is nothing to show. The
 * description stays within `budget` (at most Discord's 4096), the lines that do not fit
 * counted as "… and N more".
 */
export function monitorEmbed(
  rows: readonly MonitorRow[] | null,
  options: { budget?: number } = {},
): APIEmbed {
  const budget = Math.min(options.budget ?? DESCRIPTION_LIMIT, DESCRIPTION_LIMIT);
  if (rows === null)
    return {
      title: 'Monitor: no checks yet',
      description: "No worker has read the flake's machines yet, so the monitor has not checked any.",
      color: COLOR.cancelled,
    };
  const lastCheck = Math.max(0, ...rows.map((row) => row.watch?.last?.at ?? 0));
  if (lastCheck === 0)
    return {
      title: 'Monitor: no checks yet',
      description:
        rows.length === 0
          ? 'The flake has no managed machines.'
          : `None of the ${count(rows.length, 'machine')} has been checked by the monitor yet.`,
      color: COLOR.cancelled,
    };

  const of = (view: MonitorRow['view']) => rows.filter((row) => row.view === view);
  const healthy = of('healthy').length;
  const failing = rows.filter((row) => row.view === 'unhealthy' || row.view === 'unreachable');
  const inRun = of('in a run');
  const silenced = of('silenced');
  const unchecked = of('unknown');
  const unmonitored = of('not monitored');
  const watched = rows.length - unmonitored.length;

  const summary = [
    `**${healthy}** healthy`,
    failing.length > 0 ? `**${failing.length}** failing` : '',
    inRun.length > 0 ? `**${inRun.length}** in a run` : '',
    silenced.length > 0 ? `**${silenced.length}** silenced` : '',
    unchecked.length > 0 ? `**${unchecked.length}** not checked yet` : '',
    unmonitored.length > 0 ? `${unmonitored.length} not monitored` : '',
  ]
    .filter(Boolean)
    .join(' · ');
  const entries = [
    ...failing.map(failingLine),
    ...inRun.map(({ machine, watch }) => `🔄 **${machine}** in run \`${watch?.run}\``),
    ...silenced.map(({ machine, silence }) =>
      silence
        ? `🔕 **${machine}** silenced until ${when(silence.until, 'R')} by ${silence.by.name}: ${clip(silence.reason, 80)}`
        : `🔕 **${machine}** silenced`,
    ),
  ];
  const tail = [
    ...(unchecked.length > 0
      ? [clip(`⏳ Not checked yet: ${unchecked.map((row) => row.machine).join(', ')}`, 300)]
      : []),
    `Last check ${when(lastCheck, 'R')}`,
  ];
  return {
    title: `Monitor: ${healthy} of ${count(watched, 'watched machine')} healthy`,
    description: fitLines([summary], entries, tail, budget),
    color: failing.length > 0 ? COLOR.failed : healthy === watched ? COLOR.ok : COLOR.waiting,
  };
}

/** `❌ **web** unhealthy since <t:…:R>: http (status 500)` */
function failingLine({ machine, view, watch }: MonitorRow): string {
  const since = watch?.since ? ` since ${when(watch.since, 'R')}` : '';
  const reason = watch?.last && !watch.last.ok ? `: ${clip(failureReason(watch.last), 160)}` : '';
  return `❌ **${machine}** ${view}${since}${reason}`;
}

/**
 * The head, as many entries as fit, then the tail, joined by lines within `budget` characters;
 * the entries left out are counted in an "… and N more" line.
 */
export function fitLines(
  head: readonly string[],
  entries: readonly string[],
  tail: readonly string[],
  budget: number,
): string {
  const joined = (lines: readonly string[]) => lines.join('\n');
  const all = joined([...head, ...entries, ...tail]);
  if (all.length <= budget) return all;
  const shown: string[] = [];
  for (const [index, entry] of entries.entries()) {
    const more = `… and ${entries.length - index - 1} more`;
    // Room for this entry, and for the count of those after it.
    if (joined([...head, ...shown, entry, more, ...tail]).length > budget) break;
    shown.push(entry);
  }
  return clip(joined([...head, ...shown, `… and ${entries.length - shown.length} more`, ...tail]), budget);
}

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
