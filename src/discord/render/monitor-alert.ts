import { type APIButtonComponent, ButtonStyle, ComponentType } from 'discord.js';
import type { WatchEvent } from '../../domain/monitor/machine-watch.js';
import { encodeButton } from '../custom-ids.js';
import { powerCycleButton } from './alert-message.js';
import { COLOR, clip, duration, when } from './colors.js';
import type { DiscordMessage } from './plan-message.js';

type Failing = Extract<WatchEvent, { type: 'monitor.alert' | 'monitor.reopened' }>;
type Recovered = Extract<WatchEvent, { type: 'monitor.recovered' }>;

/** The alert's buttons: reboot the machine (a run, approvals as its criticality needs), silence it, check it now. */
function alertButtons(event: Failing): APIButtonComponent[] {
  const { machine } = event;
  // An unreachable machine with power control: power-cycle it (a power run, with its approvals).
  const power =
    event.status === 'unreachable' && event.powerCycle ? powerCycleButton({ name: machine }) : null;
  return [
    {
      type: ComponentType.Button,
      style: ButtonStyle.Danger,
      label: clip(`Reboot ${machine}`, 80),
      custom_id: encodeButton({ action: 'monitor-reboot', machine }),
    },
    {
      type: ComponentType.Button,
      style: ButtonStyle.Secondary,
      label: 'Silence 1 h',
      custom_id: encodeButton({ action: 'silence', machine, duration: '1h' }),
    },
    {
      type: ComponentType.Button,
      style: ButtonStyle.Primary,
      label: 'Check now',
      custom_id: encodeButton({ action: 'check', machine }),
    },
    ...(power ? [power] : []),
  ];
}

/** Each failing check with its reason, or why the machine cannot be reached. */
function failures(event: Failing): string {
  if (event.status === 'unreachable' || event.checks.length === 0) return event.reason;
  return event.checks.map((check) => `• ${check.name}: ${check.error ?? 'failed'}`).join('\n');
}

/**
 * A machine the monitor reports: mentions the on-call role (and only it), names the machine,
 * what fails and how, since when, and offers Reboot, Silence 1 h and Check now. A reopened
 * incident (flapping) shows the same message again, saying how often it came back.
 */
export function monitorAlertMessage(event: Failing, oncallRoleId: string | undefined): DiscordMessage {
  const mention = oncallRoleId ? `<@&${oncallRoleId}> ` : '';
  const what = event.status === 'unreachable' ? 'is unreachable' : 'is unhealthy';
  const flapping =
    event.type === 'monitor.reopened' ? ` (flapping: failed again ${event.flaps}× after recovering)` : '';
  return {
    content: clip(`${mention}**${event.machine}** ${what} since ${when(event.since, 'R')}${flapping}`, 2000),
    embeds: [
      {
        title: clip(`${event.machine} ${what}`, 256),
        description: clip(
          `Failing since ${when(event.since, 'R')} (${when(event.since, 'T')}).${flapping}`,
          4000,
        ),
        color: COLOR.failed,
        fields: [
          {
            name: event.status === 'unreachable' ? 'Unreachable' : 'Failing checks',
            value: clip(failures(event), 1000),
          },
        ],
        footer: { text: `monitor · incident ${event.incident}` },
      },
    ],
    components: [{ type: ComponentType.ActionRow, components: alertButtons(event) }],
    allowed_mentions: { parse: [], ...(oncallRoleId ? { roles: [oncallRoleId] } : {}) },
  };
}

/** The alert once the machine recovered: how long it was down; no buttons, nobody mentioned. */
export function recoveredAlertMessage(event: Recovered): DiscordMessage {
  return {
    content: clip(
      `**${event.machine}** recovered ${when(event.at, 'R')}, down ${duration(event.downMs)}`,
      2000,
    ),
    embeds: [
      {
        title: clip(`${event.machine} recovered`, 256),
        description: `Down ${duration(event.downMs)}: failing from ${when(event.since, 'T')} to ${when(event.at, 'T')}.`,
        color: COLOR.ok,
        footer: { text: `monitor · incident ${event.incident}` },
      },
    ],
    components: [],
    allowed_mentions: { parse: [] },
  };
}

/** The short reply under the alert, so the channel sees the recovery (nobody is mentioned). */
export function recoveredReply(event: Recovered): string {
  return `✅ **${event.machine}** recovered after ${duration(event.downMs)}.`;
}

/** The short reply under the alert when a flapping machine fails again (nobody is paged). */
export function reopenedReply(event: Extract<WatchEvent, { type: 'monitor.reopened' }>): string {
  return `⚠️ **${event.machine}** is failing again (${event.flaps}× since the alert); not paging again.`;
}
