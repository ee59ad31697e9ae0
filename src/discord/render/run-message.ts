import { type APIButtonComponent, type APIEmbed, ButtonStyle, ComponentType } from 'discord.js';
import type { RunJobData } from '../../orchestration/queue/run-request.js';
import type { Approval } from '../../orchestration/run-flow.js';
import { isRunDone } from '../../orchestration/run-state.js';
import { encodeButton } from '../custom-ids.js';
import { clip, statusColor, when } from './colors.js';
import type { DiscordMessage } from './plan-message.js';

/** A step that waits for approvers. */
export interface ApprovalWait {
  readonly machine: string;
  readonly required: number;
  readonly approvals: readonly Approval[];
  readonly expiresAt: number;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const names = (approvals: readonly Approval[]) => approvals.map((approval) => approval.by).join(', ');

/**
 * The one message of a run, edited in place: a line per machine in run order, what it waits
 * for, who approved it; Approve/Deny buttons where a step waits; Abort while it runs.
 */
export function runMessage(data: RunJobData, waits: readonly ApprovalWait[]): DiscordMessage {
  const { state, request } = data;
  const waitsByMachine = new Map(waits.map((wait) => [wait.machine, wait]));
  const steps = state.kind === 'deploy' ? state.steps.map((step) => step.machines) : state.steps;
  const lines = steps.flatMap((step, index) =>
    step.map((machine, position) => {
      const number = position === 0 ? `\`${String(index + 1).padStart(2)}\`` : '`  `';
      return `${number} ${machineLine(data, machine, waitsByMachine.get(machine))}`;
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
    fields.push({
      name: 'Halted',
      value: clip(
        `${state.halt.machine ?? 'build'} failed at ${state.halt.phase}: ${state.halt.reason}`,
        1000,
      ),
      inline: false,
    });
  if (state.kind === 'deploy' && state.needsReboot.length > 0)
    fields.push({ name: 'Needs a reboot', value: state.needsReboot.join(', '), inline: false });
  if (state.status === 'cancelled' && state.cancelReason)
    fields.push({ name: 'Cancelled', value: clip(state.cancelReason, 1000), inline: false });
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
    buttons.push({
      type: ComponentType.Button,
      style: ButtonStyle.Danger,
      label: 'Abort',
      custom_id: encodeButton({ action: 'cancel', runId: state.id }),
    });
  }
  const rows = [];
  for (let index = 0; index < buttons.length && rows.length < 5; index += 5)
    rows.push({ type: ComponentType.ActionRow as const, components: buttons.slice(index, index + 5) });
  return { embeds: [embed], components: rows };
}

function machineLine(data: RunJobData, machine: string, wait: ApprovalWait | undefined): string {
  const { state } = data;
  if (state.kind === 'health') {
    const result = state.results[machine];
    if (!result) return `▫️ ${machine}`;
    const failing = result.checks
      .filter((check) => !check.ok)
      .map((check) => `${check.name}: ${check.error}`);
    return result.ok
      ? `✅ **${machine}** healthy`
      : `❌ **${machine}** ${clip(failing.join('; ') || 'unreachable', 300)}`;
  }
  const progress = state.progress[machine];
  if (!progress) return `▫️ ${machine}`;
  const approved =
    progress.approvals && progress.approvals.length > 0
      ? ` · approved by ${progress.approvals.map((a) => `${a.by} ${when(Date.parse(a.at), 't')}`).join(', ')}`
      : '';
  if (wait)
    return `🔐 **${machine}** waits for approval: ${wait.approvals.length}/${wait.required}${wait.approvals.length > 0 ? ` (${names(wait.approvals)})` : ''}, expires ${when(wait.expiresAt, 'R')}`;
  switch (progress.phase) {
    case 'pending':
      return `▫️ ${machine}`;
    case 'skipped':
      return `⏭️ ${machine} skipped${progress.skipReason ? `: ${clip(progress.skipReason, 200)}` : ''}`;
    case 'failed':
      return `❌ **${machine}** failed at ${progress.error?.phase}: ${clip(progress.error?.reason ?? '', 300)}${rollback(progress)}`;
    case 'succeeded': {
      const took =
        'finishedAt' in progress && progress.finishedAt && progress.startedAt
          ? ` in ${seconds(progress.finishedAt - progress.startedAt)}`
          : '';
      return `✅ **${machine}** ${state.kind === 'reboot' ? 'rebooted' : 'deployed'}${took}${approved}`;
    }
    default:
      return `${activeIcon(progress.phase)} **${machine}** ${activeText(progress.phase)}${approved}`;
  }
}

function rollback(progress: object): string {
  const underWay = 'rollbackSteps' in progress && Array.isArray(progress.rollbackSteps);
  if (!('rollback' in progress) || !progress.rollback) return underWay ? ' · rolling back' : '';
  const result = progress.rollback as {
    ok: boolean;
    reason: string | null;
    verified?: { bootDefault: string | null } | null;
  };
  if (!result.ok) return ` · ROLLBACK FAILED: ${clip(result.reason ?? '', 200)}`;
  // What was read back: the previous system runs, the profile points at it, and so does the boot default if known.
  return result.verified && result.verified.bootDefault === null
    ? ' · rolled back, healthy (boot default unknown)'
    : ' · rolled back, healthy';
}

function activeIcon(phase: string): string {
  if (phase === 'delay' || phase === 'confirmation') return '⏳';
  if (phase === 'health' || phase === 'stability') return '🩺';
  if (phase === 'copying') return '📦';
  return '🔄';
}

function activeText(phase: string): string {
  const texts: Record<string, string> = {
    delay: 'waits its rebootDelay',
    confirmation: 'waits for approval',
    rebooting: 'rebooting',
    'coming-back': 'coming back',
    health: 'health checks',
    stability: 'stability window',
    copying: 'copying its system',
    activating: 'activating',
    committing: 'committing',
  };
  return texts[phase] ?? phase;
}

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
