import { type ChatInputCommandInteraction, MessageFlags } from 'discord.js';
import type { Inventory } from '../domain/inventory/schema.js';
import { BrokenHostsError } from '../domain/planner/errors.js';
import { type Plan, planSequence, type SkippedHost } from '../domain/planner/plan.js';
import { selectTargets } from '../domain/planner/select-targets.js';
import { rebootPlanId } from '../orchestration/plan-id.js';
import { isRunDone } from '../orchestration/run-state.js';
import { actorOf, type BotContext, memberOf } from './bot-context.js';
import type { Subcommand } from './command-definitions.js';
import { operatorSubcommands } from './command-definitions.js';
import { allowed, refusal } from './permissions.js';
import { clip } from './render/colors.js';
import { healthEmbed, machinesEmbed, statusEmbed } from './render/info-embeds.js';
import { planMessage } from './render/plan-message.js';

/** `all` (or nothing) is every machine. */
export const targetsOf = (target: string | null): string[] => (!target || target === 'all' ? [] : [target]);

/** How a Discord user goes on without the hosts that could not be read. */
const skipBrokenInDiscord = 'set the skip-broken option to True';

/** A refusal over broken hosts, telling how to skip them in Discord's words; other errors as they are. */
export function inDiscordWords(error: unknown): unknown {
  return error instanceof BrokenHostsError ? error.withHowToSkip(skipBrokenInDiscord) : error;
}

/** ` Skipped (could not be read): thrower, typo.` for a reply; nothing when none was skipped. */
export function skippedNote(skipped: readonly SkippedHost[] | undefined): string {
  if (!skipped || skipped.length === 0) return '';
  return ` ${clip(`Skipped (could not be read): ${skipped.map((host) => `${host.name} (${host.reason})`).join('; ')}.`, 1200)}`;
}

/** The reboot plan for a target and the id that binds a start click to it. */
export function rebootPlan(
  inventory: Inventory,
  target: string | null,
  skipBroken = false,
): { plan: Plan; id: string } {
  const plan = planSequence(inventory, { targets: targetsOf(target), skipBroken });
  return { plan, id: rebootPlanId(plan) };
}

/** `/lab <subcommand>`: acknowledged at once (deferred), answered when the work is done. */
export async function slashCommand(
  interaction: ChatInputCommandInteraction,
  context: BotContext,
): Promise<void> {
  const subcommand = interaction.options.getSubcommand() as Subcommand;
  const member = memberOf(interaction);
  const needs = operatorSubcommands.includes(subcommand) ? 'operate' : 'view';
  if (!allowed(context.config, member, needs)) {
    context.log.info(
      { userId: member.userId, subcommand },
      `refused /lab ${subcommand} for ${member.name} (${member.userId}): not allowed to ${needs}`,
    );
    await interaction.reply({ content: refusal(needs), flags: MessageFlags.Ephemeral });
    return;
  }
  await interaction.deferReply();
  try {
    await answer(interaction, subcommand, member, context);
  } catch (error) {
    throw inDiscordWords(error);
  }
}

async function answer(
  interaction: ChatInputCommandInteraction,
  subcommand: Subcommand,
  member: ReturnType<typeof memberOf>,
  context: BotContext,
): Promise<void> {
  const { runs, config } = context;
  const skipBroken = interaction.options.getBoolean('skip-broken') ?? false;
  switch (subcommand) {
    case 'machines': {
      const group = interaction.options.getString('group');
      const inventory = await runs.inventory(config.flake);
      const machines = group ? selectTargets(inventory, [`@${group.replace(/^@/, '')}`]) : inventory.machines;
      await interaction.editReply({
        embeds: [machinesEmbed(inventory, machines, group?.replace(/^@/, '') ?? null)],
      });
      return;
    }
    case 'sequence': {
      const target = interaction.options.getString('target') ?? 'all';
      const inventory = await runs.inventory(config.flake);
      const { plan, id } = rebootPlan(inventory, target, skipBroken);
      await interaction.editReply(
        planMessage(plan, inventory, runs.config.approvals, { target, planId: id, skipBroken }),
      );
      return;
    }
    case 'health': {
      const target = interaction.options.getString('target');
      const submitted = await runs.submit({
        kind: 'health',
        flake: config.flake,
        targets: targetsOf(target),
        skipBroken,
        requestedBy: actorOf(member),
        source: 'discord',
      });
      const state = await finishedState(context, submitted.runId);
      if (state?.kind !== 'health') {
        await interaction.editReply(
          `Health run \`${submitted.runId}\` is still going: /lab status shows it.${skippedNote(submitted.data.skipped)}`,
        );
        return;
      }
      const results = (state.steps[0] ?? []).flatMap((machine) => {
        const health = state.results[machine];
        return health ? [{ machine, health }] : [];
      });
      const note = skippedNote(submitted.data.skipped).trim();
      await interaction.editReply({ ...(note ? { content: note } : {}), embeds: [healthEmbed(results)] });
      return;
    }
    case 'reboot':
    case 'deploy': {
      const target = interaction.options.getString('target', true);
      const strategy = interaction.options.getString('strategy') as
        | 'rolling'
        | 'blue-green'
        | 'recreate'
        | null;
      const submitted = await runs.submit({
        kind: subcommand,
        flake: config.flake,
        targets: targetsOf(target),
        ...(strategy ? { strategy } : {}),
        skipBroken,
        requestedBy: actorOf(member),
        source: 'discord',
        ...(interaction.channelId ? { discordChannel: interaction.channelId } : {}),
      });
      const count = Object.keys(submitted.data.state.machines).length;
      await interaction.editReply(
        submitted.duplicate
          ? `The same ${subcommand} is already running as run \`${submitted.runId}\`.`
          : `Started ${subcommand} run \`${submitted.runId}\` of ${count} machine${count === 1 ? '' : 's'} (plan \`${submitted.data.planId}\`).${skippedNote(submitted.data.skipped)}`,
      );
      return;
    }
    case 'status': {
      await interaction.editReply({ embeds: [statusEmbed(await runs.runs(15))] });
      return;
    }
    case 'cancel': {
      const runId = interaction.options.getString('run', true);
      await context.control.cancel(runId, actorOf(member));
      await interaction.editReply(
        `Cancelling run \`${runId}\`: nothing more is started; a machine already rebooting or activating is seen back healthy first.`,
      );
      return;
    }
  }
}

/** Waits (up to 60 s) for a short run to finish; null if it did not. */
async function finishedState(context: BotContext, runId: string) {
  const blocking = context.runs.duplicateConnection('lab-bot-follow');
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 60_000);
  // A bot that stops answers at once ("still going") instead of holding its shutdown up.
  const signal = AbortSignal.any([controller.signal, context.stopping]);
  try {
    for await (const event of context.runs.events.follow(runId, blocking, signal)) {
      if (event.type === 'run.finished') break;
    }
  } finally {
    clearTimeout(timer);
    blocking.disconnect();
  }
  const record = await context.runs.run(runId);
  return isRunDone(record.data.state.status) ? record.data.state : null;
}
