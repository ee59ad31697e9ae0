import { describe, expect, it } from 'vitest';
import { DESCRIPTION_LIMIT, fitLines, monitorEmbed } from '../../src/discord/render/monitor-embed.js';
import {
  heldByRun,
  type MachineWatch,
  newWatch,
  type Observation,
  observe,
  watchView,
} from '../../src/domain/monitor/machine-watch.js';
import type { Silence } from '../../src/domain/monitor/silence.js';
import type { MonitorRow } from '../../src/orchestration/monitor/monitor-client.js';

const at = Date.parse('2026-12-02T03:00:00Z');
const unix = (ms: number) => Math.floor(ms / 1000);
const thresholds = { failures: 1, successes: 1, flapWindowMs: 0 };

const passing: Observation = { at, reachable: true, error: null, checks: [], ok: true };
const failingHttp: Observation = {
  at: at + 60_000,
  reachable: true,
  error: null,
  checks: [
    { name: 'http http://localhost/health', type: 'http', ok: false, latencyMs: 3, error: 'status 500' },
  ],
  ok: false,
};

/** The machine after these checks, as the monitor's thresholds make it. */
const watched = (machine: string, ...observed: Observation[]): MachineWatch =>
  observed.reduce(
    (watch, observation) => observe(watch, observation, thresholds, { silence: null }).watch,
    newWatch(machine),
  );

const silence: Silence = {
  id: 'abcd1234',
  target: 'nas',
  reason: 'disk swap',
  by: { id: 'discord:1', name: 'alice' },
  createdAt: at,
  until: at + 2 * 3_600_000,
};

/** A row as MonitorClient.rows makes it. */
const row = (
  machine: string,
  watch: MachineWatch | null,
  options: { silence?: Silence; monitored?: boolean } = {},
): MonitorRow => ({
  machine,
  view: watchView(watch, { silenced: options.silence !== undefined, monitored: options.monitored ?? true }),
  watch,
  silence: options.silence ?? null,
});

describe("/lab status's monitor embed", () => {
  it('counts the healthy machines and names the failing (reason, since), in-run, silenced and unchecked ones', () => {
    const embed = monitorEmbed([
      row('db', watched('db', passing)),
      row('web', watched('web', passing, failingHttp)),
      row('nas', watched('nas', passing), { silence }),
      row('cache', heldByRun(watched('cache', passing), 'r42')),
      row('spare', null),
      row('quiet', null, { monitored: false }),
    ]);
    expect(embed.title).toBe('Monitor: 1 of 5 watched machines healthy');
    expect(embed.description?.split('\n')).toEqual([
      '**1** healthy · **1** failing · **1** in a run · **1** silenced · **1** not checked yet · 1 not monitored',
      `❌ **web** unhealthy since <t:${unix(failingHttp.at)}:R>: http http://localhost/health (status 500)`,
      '🔄 **cache** in run `r42`',
      `🔕 **nas** silenced until <t:${unix(silence.until)}:R> by alice: disk swap`,
      '⏳ Not checked yet: spare',
      `Last check <t:${unix(failingHttp.at)}:R>`,
    ]);
  });

  it('says plainly that there is nothing to show: no machines read, or none checked yet', () => {
    expect(monitorEmbed(null)).toMatchObject({ title: 'Monitor: no checks yet' });
    expect(monitorEmbed(null).description).toMatch(/No worker has read/);
    const unchecked = monitorEmbed([row('db', null), row('web', newWatch('web'))]);
    expect(unchecked).toEqual(expect.objectContaining({ title: 'Monitor: no checks yet' }));
    expect(unchecked.description).toBe('None of the 2 machines has been checked by the monitor yet.');
    expect(unchecked.description).not.toMatch(/healthy/);
  });

  it('stays within the limit with many failing machines, counting those left out', () => {
    const rows = [
      ...Array.from({ length: 40 }, (_, i) => row(`ok${i}`, watched(`ok${i}`, passing))),
      ...Array.from({ length: 120 }, (_, i) => row(`bad${i}`, watched(`bad${i}`, passing, failingHttp))),
    ];
    const embed = monitorEmbed(rows);
    const lines = embed.description?.split('\n') ?? [];
    expect(embed.description?.length).toBeLessThanOrEqual(DESCRIPTION_LIMIT);
    expect(embed.title).toBe('Monitor: 40 of 160 watched machines healthy');
    expect(lines[0]).toBe('**40** healthy · **120** failing');
    const shown = lines.filter((line) => line.startsWith('❌'));
    expect(shown.length).toBeGreaterThan(10);
    expect(shown.length).toBeLessThan(120);
    expect(lines.at(-2)).toBe(`… and ${120 - shown.length} more`);
    expect(lines.at(-1)).toMatch(/^Last check <t:\d+:R>$/);

    const tight = monitorEmbed(rows, { budget: 1000 });
    expect(tight.description?.length).toBeLessThanOrEqual(1000);
    expect(tight.description).toMatch(/… and \d+ more\nLast check/);
  });

  it('fits lines: everything when it fits, else the head and tail with a count of the rest', () => {
    expect(fitLines(['h'], ['a', 'b'], ['t'], 100)).toBe('h\na\nb\nt');
    const ten = ['a', 'b', 'c'].map((letter) => letter.repeat(10));
    expect(fitLines(['h'], ten, ['t'], 30)).toBe('h\naaaaaaaaaa\n… and 2 more\nt');
    expect(fitLines(['h'], ten, ['t'], 20)).toBe('h\n… and 3 more\nt');
  });
});
