import type { DeployStrategy } from '../../domain/inventory/schema.js';
import { actorOf } from '../bot-context.js';
import { skippedNote } from '../discord-words.js';
import { targetsOf } from '../reboot-plan.js';
import type { CommandCall } from './command.js';
import { windowOf } from './options.js';

/** Starts a reboot or deploy run for `/lab reboot` and `/lab deploy`, and says which run it is. */
export async function startRun(
  kind: 'reboot' | 'deploy',
  args: {
    readonly target: string;
    readonly skipBroken: boolean | null;
    readonly strategy?: DeployStrategy | null;
    readonly window: 'wait' | 'now' | null;
  },
  { interaction, member, context }: CommandCall,
): Promise<void> {
  const submitted = await context.runs.submit({
    kind,
    flake: context.config.flake,
    targets: targetsOf(args.target),
    ...(args.strategy ? { strategy: args.strategy } : {}),
    skipBroken: args.skipBroken ?? false,
    ...windowOf(args.window),
    requestedBy: actorOf(member),
    source: 'discord',
    ...(interaction.channelId ? { discordChannel: interaction.channelId } : {}),
  });
  const count = Object.keys(submitted.data.state.machines).length;
  await interaction.editReply(
    submitted.duplicate
      ? `The same ${kind} is already running as run \`${submitted.runId}\`.`
      : `Started ${kind} run \`${submitted.runId}\` of ${count} machine${count === 1 ? '' : 's'} (plan \`${submitted.data.planId}\`).${skippedNote(submitted.data.skipped)}`,
  );
}
