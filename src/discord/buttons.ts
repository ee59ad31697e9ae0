import { type ButtonInteraction, MessageFlags } from 'discord.js';
import { formatDuration } from '../domain/monitor/silence.js';
import { RunControlError } from '../errors.js';
import { MonitorClient } from '../orchestration/monitor/monitor-client.js';
import type { Decision } from '../orchestration/run-flow.js';
import { actorOf, type BotContext, memberOf } from './bot-context.js';
import { startPowerRun } from './commands/power.js';
import { decodeButton } from './custom-ids.js';
import { inDiscordWords, skippedNote } from './discord-words.js';
import { checkFromAlert, rebootFromAlert, silenceFromAlert } from './monitor-actions.js';
import { allowed, refusal } from './permissions.js';
import { rebootPlan, targetsOf } from './reboot-plan.js';
import { when } from './render/colors.js';

const ephemeral = (content: string) => ({ content, flags: MessageFlags.Ephemeral }) as const;

/** The answer to a click on the alert: what happens now, in the words of its button. */
function decisionReply(decision: Decision, runId: string, machine: string | null): string {
  if (decision === 'retry')
    return `Retrying ${machine ?? 'the build'}: run ${runId} tries the failed step again.`;
  if (decision === 'skip') return `Skipping ${machine}: run ${runId} goes on without it.`;
  return `Aborting run ${runId}: it ends here, nothing more is touched.`;
}

/**
 * A click on one of lab's buttons. Who clicked is checked here, on the server: roles first, then
 * the run's own rules (self-approval, distinct approvers, the plan, expiry) in RunControl. The
 * answer is ephemeral; the run message itself is updated by the notifier.
 */
export async function buttonClick(interaction: ButtonInteraction, context: BotContext): Promise<void> {
  const button = decodeButton(interaction.customId);
  if (!button) {
    await interaction.reply(ephemeral('This button is not lab’s, or is out of date.'));
    return;
  }
  const member = memberOf(interaction);
  const needs =
    button.action === 'approve' || button.action === 'deny'
      ? 'approve'
      : button.action === 'check'
        ? 'view'
        : 'operate';
  if (!allowed(context.config, member, needs)) {
    context.log.info(
      { userId: member.userId, action: button.action },
      `refused ${button.action} click by ${member.name} (${member.userId}): not allowed to ${needs}`,
    );
    await interaction.reply(ephemeral(refusal(needs)));
    return;
  }
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  const actor = actorOf(member);
  const { control, runs } = context;
  try {
    switch (button.action) {
      case 'approve': {
        const status = await control.approve(button.runId, button.machine, actor, button.plan);
        await interaction.editReply(
          status.complete
            ? `Approved ${button.machine}: run ${button.runId} goes on.`
            : `Approved ${button.machine} (${status.approvals.length} of ${status.required}); another approver is needed.`,
        );
        return;
      }
      case 'deny':
        await control.deny(button.runId, button.machine, actor, button.plan);
        await interaction.editReply(`Denied ${button.machine}: run ${button.runId} is cancelled.`);
        return;
      case 'start-now': {
        // It still needs its approvals; who may approve it may start it outside its window.
        const record = await runs.run(button.runId);
        const target = record.data.state.machines[button.machine];
        if (
          target &&
          record.data.policy.required[target.criticalityLevel] > 0 &&
          !allowed(context.config, member, 'approve')
        ) {
          await interaction.editReply(refusal('approve'));
          return;
        }
        await control.startNow(button.runId, button.machine, actor, button.plan);
        await interaction.editReply(
          `Starting ${button.machine} now, outside its maintenance window: run ${button.runId} goes on with it.`,
        );
        return;
      }
      case 'cancel':
        await control.cancel(button.runId, actor);
        await interaction.editReply(
          `Cancelling run ${button.runId}: nothing more is started; a machine already rebooting or activating is seen back healthy first.`,
        );
        return;
      case 'decide': {
        const record = await runs.run(button.runId);
        const halt = record.data.state.halt;
        if (halt?.at !== button.haltAt)
          throw new RunControlError(`this alert of run ${button.runId} is out of date`);
        await control.decide(button.runId, button.decision, actor);
        await interaction.editReply(decisionReply(button.decision, button.runId, halt.machine));
        return;
      }
      case 'monitor-reboot':
        await interaction.editReply(
          await rebootFromAlert(context, button.machine, actor, interaction.channelId),
        );
        return;
      case 'silence': {
        const silence = await silenceFromAlert(context, button.machine, button.duration, actor);
        await interaction.editReply(
          `Silenced ${button.machine} until ${when(silence.until, 't')} (${formatDuration(silence.until - silence.createdAt)}): no monitor alerts for it meanwhile. /lab silences lists it.`,
        );
        return;
      }
      case 'unsilence': {
        const removed = await new MonitorClient(runs).unsilence(button.silence);
        await interaction.editReply(`Removed the silence of ${removed.target} (${removed.reason}).`);
        return;
      }
      case 'check':
        await interaction.editReply(await checkFromAlert(context, button.machine));
        return;
      case 'power-cycle':
        await startPowerRun(button.machine, 'cycle', { interaction, member, context }, button.haltedRun);
        return;
      case 'start': {
        const inventory = await runs.inventory(context.config.flake);
        const { skipBroken } = button;
        if (rebootPlan(inventory, button.target, skipBroken).id !== button.plan)
          throw new RunControlError('the plan changed since it was shown: run /lab sequence again');
        const submitted = await runs.submit({
          kind: 'reboot',
          flake: context.config.flake,
          targets: targetsOf(button.target),
          skipBroken,
          requestedBy: actor,
          source: 'discord',
          ...(interaction.channelId ? { discordChannel: interaction.channelId } : {}),
        });
        await interaction.editReply(
          submitted.duplicate
            ? `This reboot is already running as run ${submitted.runId}.`
            : `Started reboot run ${submitted.runId}.${skippedNote(submitted.data.skipped)}`,
        );
        return;
      }
    }
  } catch (error) {
    if (error instanceof RunControlError)
      context.log.info(
        { userId: member.userId, action: button.action },
        `refused ${button.action} click by ${member.name} (${member.userId}): ${error.message}`,
      );
    throw inDiscordWords(error);
  }
}
