import { powerEventText } from '../../orchestration/power-text.js';
import type { RunEvent } from '../../orchestration/run-events.js';
import type { Approval } from '../../orchestration/run-flow.js';
import { cancellingText, failedWhere, outcomeSummary } from '../../orchestration/run-outcome-text.js';
import { storeName } from '../../util/store-path.js';
import { duration, rebootTimes, when } from './colors.js';

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;
const shortId = (bootId: string) => bootId.slice(0, 8);
const names = (approvals: readonly Approval[]) => approvals.map((approval) => approval.by).join(', ');
/** A time every reader sees in their own zone, and how long ago or ahead it is. */
const deadline = (iso: string) => `${when(Date.parse(iso), 'T')} (${when(Date.parse(iso), 'R')})`;

/**
 * The line a run's thread gets for an event: when it happened (a Discord timestamp, shown in
 * each reader's zone), what happened, in Discord's terms: what to do is a button on the run
 * message or the alert, never a terminal command. Null for events the run message shows well
 * enough by itself (steps, builds starting, rebootDelay waits).
 */
export function threadLine(event: RunEvent): string | null {
  const text = eventText(event);
  return text === null ? null : `${when(Date.parse(event.at), 'T')} ${text}`;
}

function eventText(event: RunEvent): string | null {
  switch (event.type) {
    case 'run.started': {
      const count = event.steps.reduce((sum, step) => sum + step.length, 0);
      return `${event.kind} run started: ${plural(count, 'machine')} in ${plural(event.steps.length, 'step')}`;
    }
    case 'step.started':
      // The run message numbers the steps; a resumed run starts its step again.
      return null;
    case 'machine.waiting':
      if (event.reason === 'delay') return null;
      if (event.reason === 'confirmation') return `⏳ **${event.machine}** waits for confirmation`;
      return (
        `🔐 **${event.machine}** waits for approval: ${event.approvals.length} of ${event.required}` +
        `${event.approvals.length > 0 ? ` (${names(event.approvals)})` : ''}, expires ${deadline(event.expiresAt)}`
      );
    case 'machine.confirmed':
      return event.approvals.length > 0
        ? `**${event.machine}** approved by ${names(event.approvals)}`
        : `**${event.machine}** confirmed`;
    case 'machine.rebooting':
      return `🔄 **${event.machine}** rebooting (boot ${shortId(event.bootId)})`;
    case 'machine.down':
      return `**${event.machine}** down`;
    case 'machine.up':
      return `**${event.machine}** up again with boot ${shortId(event.bootId)}, down ${duration(event.downMs)}`;
    case 'machine.health': {
      const checks = event.checks.map((check) =>
        check.ok ? `${check.name} (${check.latencyMs} ms)` : `${check.name} FAILED (${check.error})`,
      );
      const summary = checks.join(', ') || (event.ok ? 'no checks; SSH answers' : 'SSH does not answer');
      return `🩺 **${event.machine}** ${event.ok ? 'healthy' : 'not healthy yet'}: ${summary}`;
    }
    case 'machine.succeeded': {
      const times = event.what === 'rebooted' ? rebootTimes(event) : '';
      const waited =
        event.approvalWaitMs !== null && event.approvalWaitMs !== undefined
          ? ` · approved after ${duration(event.approvalWaitMs)}`
          : '';
      return `✅ **${event.machine}** ${event.what}${times ? `: ${times}` : ''}${waited}`;
    }
    case 'machine.failed':
      return `❌ **${event.machine}** failed at ${event.phase}: ${event.reason}`;
    case 'machine.skipped':
      return `⏭️ **${event.machine}** skipped: ${event.reason}`;
    case 'machine.power':
      // Command output is the machine's, not lab's: no mention in it may ping anyone.
      return `${event.ok ? '🔌' : '❌'} **${event.machine}** ${powerEventText(event).replaceAll('@', '@\u200b')}`;
    case 'deploy.building':
      return null;
    case 'deploy.built':
      return `built ${plural(Object.keys(event.systems).length, 'system')}`;
    case 'machine.copying':
      return `📦 **${event.machine}** copying ${storeName(event.system)}`;
    case 'machine.activating':
      return `🔄 **${event.machine}** activating (${event.action}) ${storeName(event.system)}`;
    case 'machine.rolling-back':
      return `↩️ **${event.machine}** rolling back to ${event.to ? storeName(event.to) : 'the previous system'}`;
    case 'machine.rolled-back':
      return event.ok
        ? `↩️ **${event.machine}** rolled back: the previous system runs and is healthy`
        : `❌ **${event.machine}** ROLLBACK FAILED: ${event.reason}`;
    case 'machine.needs-reboot':
      return `**${event.machine}** needs a reboot (${event.changed.join(', ')} changed)`;
    case 'step.finished':
      return null;
    case 'run.halted': {
      // A machine's failure has its own line just before; a build's has none.
      const what = event.machine
        ? `**${event.machine}** failed at ${event.phase}`
        : `${failedWhere(event)}: ${event.reason}`;
      return `🚨 run halted: ${what}; decide on the alert by ${deadline(event.expiresAt)}`;
    }
    case 'run.decided':
      return `${event.decision} by ${event.by}`;
    case 'run.cancelling':
      return `⏹️ run cancelling (${event.reason}): ${cancellingText(event)}`;
    case 'run.finished':
      return finishedText(event);
  }
}

function finishedText(event: Extract<RunEvent, { type: 'run.finished' }>): string {
  const status: string = event.status;
  const icons: Record<string, string> = { succeeded: '✅', cancelled: '⏹️', failed: '❌', aborted: '⛔' };
  // "cancelled by alice" reads "run cancelled by alice"; other reasons follow a colon.
  const reason = event.reason ?? '';
  const why = !reason ? '' : reason.startsWith(`${status} `) ? reason.slice(status.length) : `: ${reason}`;
  const failed = event.failure;
  const where = failed?.machine
    ? `**${failed.machine}** failed at ${failed.phase}`
    : failed
      ? failedWhere(failed)
      : '';
  const failure = failed ? `${why ? ';' : ':'} ${where}: ${failed.reason}` : '';
  return `${icons[status] ?? '⛔'} run ${status}${why}${failure}${outcomeSummary(event)}`;
}
