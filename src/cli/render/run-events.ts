import { describeRollbackCheck } from '../../domain/deploy/rollback-check.js';
import { powerEventText } from '../../orchestration/power-text.js';
import type { RunEvent } from '../../orchestration/run-events.js';
import type { Approval } from '../../orchestration/run-flow.js';
import {
  cancellingText,
  failedWhere,
  outcomeSummary,
  theBuild,
} from '../../orchestration/run-outcome-text.js';
import { storeName } from '../../util/store-path.js';
import type { Style } from './style.js';

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;
const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;
const shortId = (bootId: string): string => bootId.slice(0, 8);
const approvers = (approvals: readonly Approval[]): string =>
  approvals.map((approval) => approval.by).join(', ');
/** HH:MM:SS of an ISO time, in local time. */
const clock = (iso: string): string => new Date(iso).toTimeString().slice(0, 8);

/**
 * A machine done: for a reboot, how long it was down and how long from the reboot command until
 * it was healthy, the wait for approval apart (the rebootDelay is in neither); else the whole time.
 */
function succeededText(event: Extract<RunEvent, { type: 'machine.succeeded' }>): string {
  const known = (ms: number | null | undefined): ms is number => ms !== null && ms !== undefined;
  const times = [
    ...(known(event.downMs) ? [`down ${seconds(event.downMs)}`] : []),
    ...(known(event.healthyMs) ? [`healthy ${seconds(event.healthyMs)} after the reboot command`] : []),
  ];
  const waited = known(event.approvalWaitMs) ? ` (approved after ${seconds(event.approvalWaitMs)})` : '';
  if (event.what === 'rebooted' && times.length > 0) return `rebooted: ${times.join(', ')}${waited}`;
  return `${event.what} and healthy in ${seconds(event.durationMs)}${waited}`;
}

/**
 * One line per event, readable at a glance: elapsed time, who, what. Returns null for events
 * that add nothing on a terminal.
 */
export function runEventLine(event: RunEvent, style: Style, width = 16): string | null {
  const time = style.dim(seconds(event.elapsedMs).padStart(7));
  const line = (who: string, text: string) => `${time}  ${who.padEnd(width)}  ${text}`;
  switch (event.type) {
    case 'run.started': {
      const count = event.steps.reduce((sum, step) => sum + step.length, 0);
      return line(
        'run',
        `${event.kind} started: ${plural(count, 'machine')} in ${plural(event.steps.length, 'step')}`,
      );
    }
    case 'step.started':
      return line(`step ${event.step}`, style.bold(event.machines.join(', ')));
    case 'machine.waiting':
      if (event.reason === 'delay') return line(event.machine, `waiting ${event.seconds} s (rebootDelay)`);
      if (event.reason === 'confirmation') return line(event.machine, 'waiting for confirmation');
      return line(
        event.machine,
        style.yellow(
          `waiting for approval (${event.approvals.length} of ${event.required}` +
            `${event.approvals.length > 0 ? `: ${approvers(event.approvals)}` : ''}), ` +
            `expires ${clock(event.expiresAt)}: lab approve ${event.runId} ${event.machine}`,
        ),
      );
    case 'machine.confirmed':
      return line(
        event.machine,
        event.approvals.length > 0 ? `approved by ${approvers(event.approvals)}` : 'confirmed',
      );
    case 'machine.rebooting':
      return line(event.machine, `rebooting (boot ${shortId(event.bootId)})`);
    case 'machine.down':
      return line(event.machine, 'down');
    case 'machine.up':
      return line(
        event.machine,
        `up again with boot ${shortId(event.bootId)}, down for ${seconds(event.downMs)}`,
      );
    case 'machine.health': {
      const checks = event.checks.map((check) =>
        check.ok
          ? `${check.name} ok (${check.latencyMs} ms)`
          : style.red(`${check.name} FAILED (${check.error})`),
      );
      const text =
        checks.length > 0 ? checks.join(', ') : event.ok ? 'no checks; SSH answers' : 'SSH does not answer';
      return line(event.machine, `health ${event.ok ? style.green('ok') : style.yellow('not yet')}: ${text}`);
    }
    case 'machine.succeeded':
      return line(event.machine, style.green(succeededText(event)));
    case 'machine.failed':
      return line(event.machine, style.red(`FAILED at ${event.phase}: ${event.reason}`));
    case 'machine.skipped':
      return line(event.machine, style.dim(`skipped: ${event.reason}`));
    case 'machine.power':
      return line(event.machine, (event.ok ? style.yellow : style.red)(powerEventText(event)));
    case 'deploy.building':
      return line(
        'build',
        `building ${plural(event.machines.length, 'system')}: ${event.machines.join(', ')}`,
      );
    case 'deploy.built':
      return line('build', style.green(`built ${plural(Object.keys(event.systems).length, 'system')}`));
    case 'machine.copying':
      return line(event.machine, `copying ${storeName(event.system)}`);
    case 'machine.activating':
      return event.action === 'boot'
        ? line(event.machine, `committing: ${storeName(event.system)} becomes the boot default (boot)`)
        : line(event.machine, `activating (${event.action}) ${storeName(event.system)}`);
    case 'machine.rolling-back': {
      const generation = event.generation == null ? '' : ` (profile generation ${event.generation})`;
      return line(
        event.machine,
        style.yellow(
          `rolling back to ${event.to ? storeName(event.to) : 'the previous system'}${generation}`,
        ),
      );
    }
    case 'machine.rolled-back': {
      const verified = event.verified ? describeRollbackCheck(event.verified, storeName) : null;
      if (event.ok)
        return line(
          event.machine,
          style.yellow(`rolled back: ${verified ?? 'the previous system runs and is healthy'}`),
        );
      return line(
        event.machine,
        style.red(`ROLLBACK FAILED: ${event.reason}${verified ? ` (read back: ${verified})` : ''}`),
      );
    }
    case 'machine.needs-reboot':
      return line(event.machine, style.yellow(`needs a reboot (${event.changed.join(', ')} changed)`));
    case 'step.finished':
      return null;
    case 'run.halted': {
      const checks = event.checks.map((check) => `${check.name}: ${check.error}`).join('; ');
      return line(
        'run',
        style.red(
          `HALTED: ${failedWhere(event)}: ${event.reason}${checks ? ` (${checks})` : ''}; ` +
            `decide by ${clock(event.expiresAt)}: lab ${event.decisions.join('|')} ${event.runId}`,
        ),
      );
    }
    case 'run.decided':
      return line('run', `${event.decision} (by ${event.by})`);
    case 'run.cancelling':
      return line('run', style.yellow(`cancelling (${event.reason}): ${cancellingText(event)}`));
    case 'run.finished': {
      const outcomes = outcomeSummary(event);
      if (event.status === 'succeeded') return line('run', style.green(`succeeded${outcomes}`));
      const { failure } = event;
      const failed = failure ? `; ${failedWhere(failure)}: ${failure.reason}` : '';
      const why = event.reason ? `: ${event.reason}` : '';
      if (event.status === 'cancelled')
        return line('run', style.yellow(`cancelled${why}${failed}${outcomes}`));
      if (event.status === 'aborted') return line('run', style.red(`aborted${why}${failed}${outcomes}`));
      const at = failure
        ? ` at ${failure.machine === null ? theBuild(failure) : `${failure.machine} (${failure.phase})`}: ${failure.reason}`
        : '';
      return line('run', style.red(`failed${at}${outcomes}`));
    }
  }
}
