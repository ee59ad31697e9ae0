import type { MachinePreview, PreviewStep } from '../domain/deploy/change-preview.js';
import type { PackageChange } from '../domain/deploy/preview-parsers.js';

/**
 * The words of a change preview, shared by the terminal (`lab deploy --dry-run`), `/lab diff` and
 * deploy approval messages: plain text lines, no styling. Pure.
 */

const STEP_WORDS: Record<PreviewStep, string> = {
  build: 'did not build',
  read: 'could not be read',
  copy: 'could not copy the new system there',
  diff: 'could not diff the closures',
  size: 'could not read the closure sizes',
  'dry-activate': 'could not dry-activate',
};

/** 1536 → "1.5 KiB"; sizes as nix gives them, in binary units. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const text = unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
  return bytes < 0 ? `-${text}` : text;
}

const signed = (bytes: number) =>
  bytes > 0 ? `+${formatBytes(bytes)}` : bytes < 0 ? formatBytes(bytes) : '±0 B';
const versions = (list: readonly string[]) => list.map((v) => v || 'ε').join(', ');
const change = (p: PackageChange) => `${p.name} ${versions(p.before)} → ${versions(p.after)}`;

/** How many packages change, are added or removed (null when the closures could not be diffed). */
export function packageCount(preview: MachinePreview): number | null {
  const p = preview.packages;
  return p ? p.changed.length + p.added.length + p.removed.length : null;
}

/** The problems of a machine's preview, one line each: "could not diff the closures: …". */
export const problemLines = (preview: MachinePreview): string[] =>
  preview.problems.map((problem) => `${STEP_WORDS[problem.step]}: ${problem.reason}`);

/**
 * One machine's preview as lines: versions changed, added, removed, the closure size, whether a
 * reboot will be needed, the units, and every step that failed (with why). A machine that runs
 * the new system already gets one line.
 */
export function previewLines(preview: MachinePreview): string[] {
  if (preview.changes === false) return ['already runs the new system: nothing changes'];
  const lines: string[] = [];
  const p = preview.packages;
  if (p) {
    if (p.changed.length > 0) lines.push(`versions: ${p.changed.map(change).join('; ')}`);
    if (p.added.length > 0)
      lines.push(`added: ${p.added.map((a) => `${a.name} ${versions(a.after)}`.trim()).join('; ')}`);
    if (p.removed.length > 0)
      lines.push(`removed: ${p.removed.map((r) => `${r.name} ${versions(r.before)}`.trim()).join('; ')}`);
    if (p.changed.length + p.added.length + p.removed.length === 0) lines.push('no package versions change');
  }
  const size = preview.closureSize;
  if (size)
    lines.push(`closure: ${formatBytes(size.before)} → ${formatBytes(size.after)} (${signed(size.delta)})`);
  if (preview.needsReboot === true)
    lines.push(
      `reboot needed: ${preview.bootChanges.join(', ')} ${preview.bootChanges.length === 1 ? 'changes' : 'change'}`,
    );
  else if (preview.needsReboot === false)
    lines.push('no reboot needed (kernel, initrd and modules as booted)');
  const u = preview.units;
  if (u) {
    const parts = [
      ['restarted', u.restarted],
      ['started', u.started],
      ['stopped', u.stopped],
      ['reloaded', u.reloaded],
      ['changed but not restarted', u.notRestarted],
    ] as const;
    const said = parts
      .filter(([, units]) => units.length > 0)
      .map(([what, units]) => `${what}: ${units.join(', ')}`);
    if (u.restartSystemd) said.unshift('systemd restarted');
    lines.push(
      said.length > 0 ? `units ${said.join('; ')}` : 'no unit is started, stopped, restarted or reloaded',
    );
  }
  return [...lines, ...problemLines(preview)];
}

/** One line for a machine: "db: 3 packages, reboot needed, 2 units restarted" — for summaries. */
export function previewHeadline(preview: MachinePreview): string {
  if (preview.changes === false) return `${preview.machine}: nothing changes`;
  const parts: string[] = [];
  const count = packageCount(preview);
  if (count !== null) parts.push(`${count} package${count === 1 ? '' : 's'}`);
  if (preview.needsReboot) parts.push('reboot needed');
  const u = preview.units;
  if (u) {
    for (const [what, units] of [
      ['restarted', u.restarted],
      ['started', u.started],
      ['stopped', u.stopped],
      ['reloaded', u.reloaded],
    ] as const)
      if (units.length > 0) parts.push(`${units.length} unit${units.length === 1 ? '' : 's'} ${what}`);
  }
  for (const problem of preview.problems) parts.push(STEP_WORDS[problem.step]);
  return `${preview.machine}: ${parts.join(', ') || 'changes'}`;
}

/** The whole preview as plain text (a file attachment, a thread): each machine and its lines. */
export function previewText(previews: readonly MachinePreview[]): string {
  return previews
    .map((preview) => [`${preview.machine}:`, ...previewLines(preview).map((line) => `  ${line}`)].join('\n'))
    .join('\n\n')
    .concat('\n');
}
