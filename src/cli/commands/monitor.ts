import type { Command } from 'commander';
import { formatDuration } from '../../domain/monitor/silence.js';
import { UsageError } from '../../errors.js';
import { MonitorClient } from '../../orchestration/monitor/monitor-client.js';
import { cliActor, withRunQueue } from '../queue-support.js';
import { silenceJson, silencesText } from '../render/monitor.js';
import type { Context } from './shared.js';

/** lab silence, silences, unsilence: the monitor's silences, as /lab has them. */
export function monitorCommands(program: Command, context: Context): void {
  const { output, env } = context;
  program
    .command('silence')
    .description(
      "silence the monitor's alerts for a machine, @group or all, for a while (they expire on their own)",
    )
    .argument('<target>', 'a machine, @group or all')
    .argument('<duration>', 'how long: 30m, 2h, 1h30m, 1d (at most 4w)')
    .argument('<reason...>', 'why (shown with the silence)')
    .option('-f, --flake <flake>', 'the flake whose machines the target names (default: $LAB_FLAKE or .)')
    .option('--as <name>', 'who you are, for the record (default: $LAB_USER or user@host)')
    .option('--json', 'print the silence as JSON')
    .action(
      (
        target: string,
        duration: string,
        reason: string[],
        options: { flake?: string; as?: string; json?: boolean },
      ) =>
        withRunQueue(context, async (runs) => {
          // The flake as the workers watch it (LAB_FLAKE): its last read names the machines.
          const flake = options.flake ?? env.LAB_FLAKE;
          if (!flake)
            throw new UsageError('lab silence needs the flake whose machines it names: --flake or LAB_FLAKE');
          const inventory = (await runs.cachedInventory(flake)) ?? (await runs.inventory(flake));
          const silence = await new MonitorClient(runs).silence(
            { target, duration, reason: reason.join(' '), by: cliActor(env, options.as) },
            inventory,
          );
          if (options.json) output.json(silenceJson(silence));
          else
            output.lines([
              `Silenced ${silence.target} for ${formatDuration(silence.until - silence.createdAt)} (until ${new Date(silence.until).toISOString()}): silence ${silence.id}.`,
            ]);
        }),
    );

  program
    .command('silences')
    .description("list the monitor's silences in force: target, time left, who and why")
    .option('--json', 'print JSON (stable format)')
    .action((options: { json?: boolean }) =>
      withRunQueue(context, async (runs) => {
        const silences = await new MonitorClient(runs).silences();
        if (options.json) output.json({ silences: silences.map(silenceJson) });
        else output.lines(silencesText(silences, output.style));
      }),
    );

  program
    .command('unsilence')
    .description('remove a silence: alerts for its machines are raised again')
    .argument('<id>', 'the silence id (lab silences lists them)')
    .action((id: string) =>
      withRunQueue(context, async (runs) => {
        const removed = await new MonitorClient(runs).unsilence(id);
        output.lines([`Removed silence ${removed.id} of ${removed.target} (${removed.reason}).`]);
      }),
    );
}
