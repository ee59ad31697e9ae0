import { type APIButtonComponent, type APIEmbed, ButtonStyle, ComponentType } from 'discord.js';
import { type PhaseTable, phaseInfo, phaseTable } from '../../orchestration/phases.js';
import type { RunJobData } from '../../orchestration/queue/run-request.js';
import { failedWhere } from '../../orchestration/run-event-text.js';
import type { Approval, Halt } from '../../orchestration/run-flow.js';
import {
  isRunDone,
  type MachineProgress,
  rebootTimesOf,
  stepMachines,
} from '../../orchestration/run-state.js';
import { encodeButton } from '../custom-ids.js';
import { clip, duration, rebootTimes, statusColor, when } from './colors.js';
import type { DiscordMessage } from './plan-message.js';

/** The run message's button: it cancels the run (the alert's "Abort run" ends a halted one). */
export const CANCEL_LABEL = 'Cancel run';

/** A step that waits for approvers. */
export interface ApprovalWait {
  readonly machine: string;
  readonly required: number;
  readonly approvals: readonly Approval[];
  readonly expiresAt: number;
}

const names = (approvals: readonly Approval[]) => approvals.map((approval) => approval.by).join(', ');

/**
 * The one message of a run, edited in place: a line per machine in run order, what it waits
 * for, who approved it; Approve/Deny buttons where a step waits; Cancel run while it runs.
 */
export function runMessage(data: RunJobData, waits: readonly ApprovalWait[]): DiscordMessage {
  const { state, request } = data;
  const waitsByMachine = new Map(waits.map((wait) => [wait.machine, wait]));
  const steps = stepMachines(state);
  const table = phaseTable(state.kind);
  const lines = steps.flatMap((step, index) =>
    step.map((machine, position) => {
      const number = position === 0 ? `\`${String(index + 1).padStart(2)}\`` : '`  `';
      return `${number} ${machineLine(data, table, machine, waitsByMachine.get(machine))}`;
    }),
  );
  const done = isRunDone(state.status);
  const stepText = done ? '' : ` (step ${Math.min(state.step + 1, steps.length)}/${steps.length})`;
  const title = `${capitalised(state.kind)} run ${state.id} · ${state.status}${stepText}`;
  const fields = [
    { name: 'Started by', value: `${request.requestedBy.name} (${request.source})`, inline: true },
    { name: 'Plan', value: `\`${data.planId}\``, inline: true },
  ];
  if (state.status === 'halted' && state.halt)
    fields.push({ name: 'Halted', value: clip(haltText(state.halt), 1000), inline: false });
  if (state.needsReboot?.length)
    fields.push({ name: 'Needs a reboot', value: state.needsReboot.join(', '), inline: false });
  if (state.status === 'cancelled' && state.cancelReason)
    fields.push({ name: 'Cancelled', value: clip(state.cancelReason, 1000), inline: false });
  if (!done && state.cancelReason)
    fields.push({
      name: 'Cancelling',
      value: clip(`${state.cancelReason}: nothing more is started; what was begun is seen to the end`, 1000),
      inline: false,
    });
  if (state.status === 'aborted' && state.abortReason)
    fields.push({ name: 'Aborted', value: clip(state.abortReason, 1000), inline: false });
  const embed: APIEmbed = {
    title: clip(title, 256),
    description: clip(lines.join('\n') || 'No machines.', 4000),
    color: statusColor(state.status, waits.length > 0),
    fields,
    footer: { text: clip(state.flake, 200) },
    ...(state.finishedAt ? { timestamp: new Date(state.finishedAt).toISOString() } : {}),
  };
  const buttons: APIButtonComponent[] = [];
  if (!done) {
    for (const wait of waits.slice(0, 12)) {
      buttons.push(
        {
          type: ComponentType.Button,
          style: ButtonStyle.Success,
          label: clip(`Approve ${wait.machine}`, 80),
          custom_id: encodeButton({
            action: 'approve',
            runId: state.id,
            machine: wait.machine,
            plan: data.planId,
          }),
        },
        {
          type: ComponentType.Button,
          style: ButtonStyle.Secondary,
          label: clip(`Deny ${wait.machine}`, 80),
          custom_id: encodeButton({
            action: 'deny',
            runId: state.id,
            machine: wait.machine,
            plan: data.planId,
          }),
        },
      );
    }
    for (const machine of windowWaiting(data).slice(0, 6))
      buttons.push({
        type: ComponentType.Button,
        style: ButtonStyle.Primary,
        label: clip(`Start ${machine} now`, 80),
        custom_id: encodeButton({ action: 'start-now', runId: state.id, machine, plan: data.planId }),
      });
    buttons.push({
      type: ComponentType.Button,
      style: ButtonStyle.Danger,
      label: CANCEL_LABEL,
      custom_id: encodeButton({ action: 'cancel', runId: state.id }),
    });
  }
  const rows = [];
  for (let index = 0; index < buttons.length && rows.length < 5; index += 5)
    rows.push({ type: ComponentType.ActionRow as const, components: buttons.slice(index, index + 5) });
  return { embeds: [embed], components: rows };
}

function machineLine(
  data: RunJobData,
  table: PhaseTable,
  machine: string,
  wait: ApprovalWait | undefined,
): string {
  const { state } = data;
  const progress = state.progress[machine];
  if (!progress) return `▫️ ${machine}`;
  const approved = approvedText(progress);
  if (wait)
    return `🔐 **${machine}** waits for approval: ${wait.approvals.length}/${wait.required}${wait.approvals.length > 0 ? ` (${names(wait.approvals)})` : ''}, expires ${when(wait.expiresAt, 'R')}`;
  const windowWait = progress.windowWait ?? null;
  if (windowWait && !isRunDone(state.status))
    return `🕰️ **${machine}** waits for its window, opens ${when(windowWait.opensAt, 'R')}`;
  if (progress.error?.phase === 'build' && progress.phase === 'pending')
    return `❌ **${machine}** did not build: ${clip(progress.error.reason, 300)}`;
  const done = isRunDone(state.status);
  const info = phaseInfo(table, progress.phase);
  switch (info.terminal) {
    case 'skipped':
      return `${info.icon} ${machine} skipped${progress.skipReason ? `: ${clip(progress.skipReason, 200)}` : ''}`;
    case 'bad': {
      if (table.failureText === 'reason')
        return `${info.icon} **${machine}** ${clip(progress.error?.reason ?? 'unreachable', 300)}`;
      return `${info.icon} **${machine}** failed at ${progress.error?.phase}: ${clip(progress.error?.reason ?? '', 300)}${rollback(progress)}`;
    }
    case 'good': {
      // The reboot's own times; the waits before it (rebootDelay, approvers) are not in them.
      const times = table.showsRebootTimes ? rebootTimes(rebootTimesOf(progress)) : '';
      return `${info.icon} **${machine}** ${info.text}${times ? `: ${times}` : ''}${approved}`;
    }
    default:
      if (progress.phase === 'pending') return done ? `▫️ ${machine} not touched` : `▫️ ${machine}`;
      // A run that ended with the machine half-way says so, rather than what it was doing.
      if (done) return `❔ **${machine}** ${untilTheEnd(table, progress)}${approved}`;
      return `${info.icon} **${machine}** ${info.text}${approved}`;
  }
}

/** The machines waiting for their maintenance window (a Start now button each), in run order. */
const windowWaiting = (data: RunJobData): string[] =>
  stepMachines(data.state)
    .flat()
    .filter((machine) => (data.state.progress[machine]?.windowWait ?? null) !== null);

/** A machine that a finished run left half-way: changed but not verified, or not touched. */
function untilTheEnd(table: PhaseTable, progress: MachineProgress): string {
  if (table.outcome(progress) === 'not touched') return 'not touched';
  return `${phaseInfo(table, progress.phase).text} when the run ended: not verified`;
}

function haltText(halt: Halt): string {
  return `${failedWhere(halt)}: ${halt.reason}`;
}

/** " · approved by bob, carol after 2 min": who approved and how long the step waited for them. */
function approvedText(progress: MachineProgress): string {
  const { approvals, askedAt, approvedAt } = progress.approval;
  if (approvals.length === 0) return '';
  if (askedAt && approvedAt)
    return ` · approved by ${names(approvals)} after ${duration(approvedAt - askedAt)}`;
  return ` · approved by ${approvals.map((a) => `${a.by} ${when(Date.parse(a.at), 't')}`).join(', ')}`;
}

function rollback(progress: MachineProgress): string {
  const result = progress.rollback;
  if (!result) return Array.isArray(progress.rollbackSteps) ? ' · rolling back' : '';
  if (!result.ok) return ` · ROLLBACK FAILED: ${clip(result.reason ?? '', 200)}`;
  // What was read back: the previous system runs, the profile points at it, and so does the boot default if known.
  return result.verified && result.verified.bootDefault === null
    ? ' · rolled back, healthy (boot default unknown)'
    : ' · rolled back, healthy';
}

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
