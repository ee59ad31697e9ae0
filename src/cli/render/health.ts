import type { MachineHealth } from '../../domain/health/check-result.js';
import { type Style, table } from './style.js';

/** The stable `lab health --json` document. */
export function healthJson(results: readonly MachineHealth[]) {
  return {
    ok: results.every((result) => result.ok),
    machines: results.map((result) => ({
      name: result.machine,
      ok: result.ok,
      reachable: result.reachable,
      error: result.error,
      checks: result.checks.map((check) => ({
        name: check.name,
        type: check.type,
        ok: check.ok,
        latencyMs: check.latencyMs,
        error: check.error,
      })),
    })),
  };
}

/** One row per machine and check: status, latency and, for failures, the reason. */
export function healthText(results: readonly MachineHealth[], style: Style): string[] {
  const rows: string[][] = [['MACHINE', 'CHECK', 'STATUS', 'LATENCY', 'DETAIL']];
  const statuses: ('ok' | 'bad')[] = [];
  for (const result of results) {
    if (!result.reachable) {
      rows.push([result.machine, 'ssh', 'UNREACHABLE', '-', result.error ?? '']);
      statuses.push('bad');
      continue;
    }
    if (result.checks.length === 0) {
      rows.push([result.machine, 'ssh', 'ok', '-', 'no health checks: SSH answers']);
      statuses.push('ok');
    }
    for (const check of result.checks) {
      rows.push([
        result.machine,
        check.name,
        check.ok ? 'ok' : 'FAILED',
        `${check.latencyMs} ms`,
        check.error ?? '',
      ]);
      statuses.push(check.ok ? 'ok' : 'bad');
    }
  }
  const [header, ...body] = table(rows);
  const lines = [
    style.bold(header ?? ''),
    ...body.map((line, index) => (statuses[index] === 'bad' ? style.red(line) : line)),
  ];
  const healthy = results.filter((result) => result.ok).length;
  lines.push(
    '',
    healthy === results.length
      ? style.green(`All ${results.length} ${results.length === 1 ? 'machine is' : 'machines are'} healthy.`)
      : style.red(`${results.length - healthy} of ${results.length} machines unhealthy.`),
  );
  return lines;
}
