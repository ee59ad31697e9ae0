import type { APIEmbed } from 'discord.js';
import type { MachineHealth } from '../../domain/health/check-result.js';
import type { Inventory, Machine } from '../../domain/inventory/schema.js';
import type { RunRecord } from '../../orchestration/queue/run-queue.js';
import { COLOR, clip, when } from './colors.js';

/** `/lab machines`: one line per machine. */
export function machinesEmbed(
  inventory: Inventory,
  machines: readonly Machine[],
  group: string | null,
): APIEmbed {
  const lines = machines.map(
    (machine) =>
      `**${machine.name}** · ${machine.role} · order ${machine.rebootOrder} · ${machine.criticalityLevel} · ${machine.deployStrategy}` +
      (machine.groups.length > 0 ? ` · ${machine.groups.map((g) => `@${g}`).join(' ')}` : '') +
      (machine.dependencies.length > 0 ? ` · after ${machine.dependencies.join(', ')}` : ''),
  );
  const broken = inventory.broken.map((host) => `⚠️ ${host.name}: ${host.error}`);
  return {
    title: `${machines.length} machine${machines.length === 1 ? '' : 's'}${group ? ` in @${group}` : ''}`,
    description: clip([...lines, ...broken].join('\n') || 'No managed machines.', 4000),
    color: COLOR.info,
    footer: { text: clip(inventory.flake, 200) },
  };
}

/** `/lab health`: each machine's checks. */
export function healthEmbed(results: readonly { machine: string; health: MachineHealth }[]): APIEmbed {
  const healthy = results.filter((result) => result.health.ok).length;
  const lines = results.map(({ machine, health }) => {
    const checks = health.checks.map((check) =>
      check.ok ? `${check.name} ${check.latencyMs} ms` : `**${check.name}: ${check.error}**`,
    );
    return `${health.ok ? '✅' : '❌'} **${machine}** ${checks.join(' · ') || (health.ok ? 'SSH answers' : 'unreachable')}`;
  });
  return {
    title: `Health: ${healthy} of ${results.length} healthy`,
    description: clip(lines.join('\n') || 'No machines.', 4000),
    color: healthy === results.length ? COLOR.ok : COLOR.failed,
  };
}

/** `/lab status`: active runs first, then recent ones. */
export function statusEmbed(records: readonly RunRecord[]): APIEmbed {
  const lines = records.map(({ data }) => {
    const { state } = data;
    const at = state.startedAt ?? data.requestedAt;
    return `\`${state.id}\` ${state.kind} · **${state.status}** · ${data.request.requestedBy.name} · ${when(at, 'R')}`;
  });
  return {
    title: 'Runs',
    description: clip(lines.join('\n') || 'No runs.', 4000),
    color: COLOR.info,
  };
}
