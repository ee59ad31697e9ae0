import { type APIButtonComponent, ButtonStyle, ComponentType } from 'discord.js';
import type { Machine } from '../../domain/inventory/schema.js';
import { canPower } from '../../domain/power/power-steps.js';
import type { RunJobData } from '../../orchestration/queue/run-request.js';
import { theBuild } from '../../orchestration/run-event-text.js';
import type { RunEvent } from '../../orchestration/run-events.js';
import type { Decision, Halt } from '../../orchestration/run-flow.js';
import { encodeButton } from '../custom-ids.js';
import { COLOR, clip, duration, when } from './colors.js';
import type { DiscordMessage } from './plan-message.js';

/**
 * The alert's buttons say what they do: retry or skip the failed machine, or abort the run
 * there (nothing more is touched). The run message's own button is "Cancel run".
 */
export function decisionLabel(decision: Decision, machine: string | null): string {
  if (decision === 'retry') return clip(`Retry ${machine ?? 'the build'}`, 80);
  if (decision === 'skip') return clip(`Skip ${machine}`, 80);
  return 'Abort run';
}

/**
 * Whether an alert about this machine offers "Power cycle": it is unreachable (a run's machine
 * that did not come back, the monitor's machine that does not answer) and its lab.machine.power
 * can power-cycle it (command.cycle, or off and on). For the run halts here and the monitor's alerts.
 */
export function offersPowerCycle(machine: Machine | undefined, unreachable: boolean): machine is Machine {
  return unreachable && machine !== undefined && canPower(machine, 'cycle');
}

/**
 * The "Power cycle" button of an alert about `machine`: it submits a power run (with the
 * machine's approvals); from a halted run's alert (`haltedRun`) under that run's lock.
 */
export function powerCycleButton(
  machine: Pick<Machine, 'name'>,
  haltedRun: string | null = null,
): APIButtonComponent | null {
  try {
    const custom_id = encodeButton({ action: 'power-cycle', machine: machine.name, haltedRun });
    return {
      type: ComponentType.Button,
      style: ButtonStyle.Danger,
      label: clip(`Power cycle ${machine.name}`, 80),
      custom_id,
    };
  } catch {
    return null; // a name too long for a button id: no button
  }
}

/**
 * How a halt ended, for the alert: the decision and who made it; a cancel and who cancelled;
 * "nobody decided" only when the halt expired.
 */
export function haltOutcome(
  event: Extract<RunEvent, { type: 'run.decided' | 'run.finished' }>,
  halt: Halt,
  cancelledBy: string | null,
): string {
  if (event.type === 'run.decided') return `${event.decision} by ${event.by}`;
  const status: string = event.status;
  if (status === 'cancelled')
    return cancelledBy ? `run cancelled by ${cancelledBy}` : `run cancelled${reasonText(event.reason)}`;
  if (Date.parse(event.at) >= halt.expiresAt)
    return `nobody decided within ${duration(halt.expiresAt - halt.at)}: run ${status}`;
  return `run ${status}${reasonText(event.reason)}`;
}

const reasonText = (reason: string | null) => (reason ? `: ${reason}` : '');

/**
 * A failed step: mentions the on-call role, names machine, phase, failing checks and error, and
 * offers Retry / Skip / Abort run until someone decides (then shows the outcome, buttons gone).
 */
export function alertMessage(
  data: RunJobData,
  halt: Halt,
  oncallRoleId: string | undefined,
  outcome: string | null,
): DiscordMessage {
  const runId = data.state.id;
  const who = halt.machine ?? theBuild(halt);
  const mention = oncallRoleId ? `<@&${oncallRoleId}> ` : '';
  const checks = halt.checks.map((check) => `• ${check.name}: ${check.error ?? 'failed'}`).join('\n');
  const decisions = (halt.machine === null ? ['retry', 'abort'] : ['retry', 'skip', 'abort']) as (
    | 'retry'
    | 'skip'
    | 'abort'
  )[];
  const buttons: APIButtonComponent[] = decisions.map((decision) => ({
    type: ComponentType.Button,
    style:
      decision === 'abort'
        ? ButtonStyle.Danger
        : decision === 'retry'
          ? ButtonStyle.Primary
          : ButtonStyle.Secondary,
    label: decisionLabel(decision, halt.machine),
    custom_id: encodeButton({ action: 'decide', runId, decision, haltAt: halt.at }),
  }));
  // A machine that did not come back, with power control: it can be power-cycled from here.
  const machine = halt.machine === null ? undefined : data.state.machines[halt.machine];
  const power = offersPowerCycle(machine, halt.phase === 'coming back')
    ? powerCycleButton(machine, runId)
    : null;
  if (power) buttons.push(power);
  return {
    content: clip(
      `${mention}**${who}** failed at **${halt.phase}** in ${data.state.kind} run \`${runId}\``,
      2000,
    ),
    embeds: [
      {
        title: clip(`${who}: ${halt.phase} failed`, 256),
        description: clip(halt.reason, 4000),
        color: outcome ? COLOR.cancelled : COLOR.failed,
        fields: [
          ...(checks ? [{ name: 'Failing checks', value: clip(checks, 1000) }] : []),
          {
            name: outcome ? 'Decided' : 'Decide by',
            value: outcome ? clip(outcome, 1000) : `${when(halt.expiresAt, 'R')} (then the run is aborted)`,
          },
        ],
        footer: { text: `run ${runId} · started by ${data.request.requestedBy.name}` },
      },
    ],
    components: outcome ? [] : [{ type: ComponentType.ActionRow, components: buttons }],
    allowed_mentions: { parse: [], ...(oncallRoleId ? { roles: [oncallRoleId] } : {}) },
  };
}
