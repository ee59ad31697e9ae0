/**
 * Silences: for a while, the monitor raises no alert for a machine, a group or all of them. They
 * expire on their own; who silenced and why is kept with them. Pure: the store is elsewhere.
 */

export interface Silence {
  readonly id: string;
  /** A machine name, `@group` or `all`, as given. */
  readonly target: string;
  readonly reason: string;
  /** Who silenced (as runs record requesters: `discord:<id>` or a CLI user). */
  readonly by: { readonly id: string; readonly name: string };
  readonly createdAt: number;
  readonly until: number;
}

const UNITS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** The longest silence: four weeks. A longer one is more likely a mistake than an intention. */
export const MAX_SILENCE_MS = 4 * UNITS.w;

/**
 * `2h`, `30m`, `1h30m`, `90s`, `1d`: milliseconds; null for anything else (zero or over four
 * weeks included), so the caller names what was wrong.
 */
export function parseDuration(text: string): number | null {
  const trimmed = text.trim().toLowerCase().replace(/\s+/g, '');
  if (!/^(\d+[smhdw])+$/.test(trimmed)) return null;
  let ms = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)([smhdw])/g))
    ms += Number(amount) * UNITS[unit as keyof typeof UNITS];
  return ms > 0 && ms <= MAX_SILENCE_MS ? ms : null;
}

/** `1h 30m`, `2d`, `45s`: a duration as people write it. */
export function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = Math.max(0, Math.round(ms / 1000));
  for (const [unit, seconds] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const amount = Math.floor(rest / seconds);
    if (amount > 0) parts.push(`${amount}${unit}`);
    rest -= amount * seconds;
  }
  return parts.slice(0, 2).join(' ') || '0s';
}

export const isActive = (silence: Silence, now: number): boolean => silence.until > now;

/** Whether the silence's target covers the machine (a member of its groups, or all). */
export function covers(silence: Silence, machine: { name: string; groups: readonly string[] }): boolean {
  if (silence.target === 'all') return true;
  if (silence.target.startsWith('@')) return machine.groups.includes(silence.target.slice(1));
  return silence.target === machine.name;
}

/** The active silence that covers the machine and lasts longest, else null. */
export function silenceFor(
  silences: readonly Silence[],
  machine: { name: string; groups: readonly string[] },
  now: number,
): Silence | null {
  let best: Silence | null = null;
  for (const silence of silences)
    if (isActive(silence, now) && covers(silence, machine) && (!best || silence.until > best.until))
      best = silence;
  return best;
}
