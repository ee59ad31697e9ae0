import {
  type APIActionRowComponent,
  type APIButtonComponent,
  type APIEmbed,
  ButtonStyle,
  ComponentType,
} from 'discord.js';
import type { Inventory } from '../../domain/inventory/schema.js';
import type { Plan } from '../../domain/planner/plan.js';
import type { MaintenanceWindow } from '../../domain/schedule/maintenance-window.js';
import { machineWindow } from '../../orchestration/maintenance-window-setting.js';
import { windowView } from '../../orchestration/maintenance-window-text.js';
import type { ApprovalPolicy } from '../../orchestration/queue/queue-config.js';
import { encodeButton } from '../custom-ids.js';
import { COLOR, clip, when } from './colors.js';

export interface DiscordMessage {
  content?: string;
  embeds: APIEmbed[];
  components: APIActionRowComponent<APIButtonComponent>[];
  allowed_mentions?: { parse: never[]; roles?: string[] };
}

/** `/lab sequence`: the steps in order with delays, criticality and approvals, and a start button. */
export function planMessage(
  plan: Plan,
  inventory: Pick<Inventory, 'flake'>,
  policy: ApprovalPolicy,
  options: {
    target: string;
    planId: string;
    skipBroken?: boolean;
    /** Each machine's next window is shown against these: the time and LAB_MAINTENANCE_WINDOW. */
    windows?: { now: number; global: MaintenanceWindow | null };
  },
): DiscordMessage {
  const windows = options.windows ?? { now: Date.now(), global: null };
  const count = plan.steps.reduce((sum, step) => sum + step.machines.length, 0);
  const lines = plan.steps.map((step, index) => {
    const machines = step.machines.map((machine) => {
      const approvals = policy.required[machine.criticalityLevel];
      const gate = approvals > 0 ? ` · 🔐 ${approvals} approval${approvals === 1 ? '' : 's'}` : '';
      const delay = machine.rebootDelay > 0 ? ` · waits ${machine.rebootDelay} s` : '';
      const window = machineWindow(machine, windows.global);
      const view = window ? windowView(window, windows.now) : null;
      const opens = view
        ? view.open
          ? ` · 🕑 window open, closes ${when(view.opening.closesAt, 'R')}`
          : ` · 🕑 window opens ${when(view.opening.opensAt, 'R')}`
        : '';
      return `**${machine.name}** (${machine.criticalityLevel}${delay}${gate}${opens})`;
    });
    return `\`${String(index + 1).padStart(2)}\` ${machines.join(', ')} · order ${step.rebootOrder}`;
  });
  const needing = plan.steps
    .flatMap((step) => step.machines)
    .filter((machine) => policy.required[machine.criticalityLevel] > 0)
    .map((machine) => machine.name);
  const embed: APIEmbed = {
    title: `Reboot sequence: ${count} machine${count === 1 ? '' : 's'} in ${plan.steps.length} step${plan.steps.length === 1 ? '' : 's'}`,
    description: clip(lines.length > 0 ? lines.join('\n') : 'No machines selected.', 4000),
    color: COLOR.info,
    fields: [
      {
        name: 'Needs approval',
        value: needing.length > 0 ? clip(needing.join(', '), 1000) : 'none',
        inline: true,
      },
      { name: 'Plan', value: `\`${options.planId}\``, inline: true },
      ...(plan.skipped.length > 0
        ? [
            {
              name: 'Skipped (could not be read)',
              value: clip(plan.skipped.map((host) => `${host.name}: ${host.reason}`).join('\n'), 1000),
            },
          ]
        : []),
      // The plan says what it does with the hosts that could not be read (skipped, or not in it).
      ...(plan.warnings.length > 0
        ? [{ name: 'Warnings', value: clip(plan.warnings.join('\n'), 1000) }]
        : []),
    ],
    footer: { text: clip(`${inventory.flake} · target ${options.target}`, 2000) },
  };
  const start: APIButtonComponent = {
    type: ComponentType.Button,
    style: ButtonStyle.Primary,
    label: 'Start reboot sequence',
    custom_id: encodeButton({
      action: 'start',
      plan: options.planId,
      target: options.target,
      skipBroken: options.skipBroken === true,
    }),
    disabled: count === 0,
  };
  return { embeds: [embed], components: [{ type: ComponentType.ActionRow, components: [start] }] };
}
