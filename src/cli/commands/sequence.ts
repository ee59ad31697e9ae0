import type { Command } from 'commander';
import { loadInventory } from '../../domain/inventory/load-inventory.js';
import { planSequence } from '../../domain/planner/plan.js';
import { globalMaintenanceWindow } from '../../orchestration/maintenance-window-setting.js';
import { sequenceJson, sequenceLines, sequenceText } from '../render/sequence.js';
import { type FlakeOptions, flakeSettings, positiveInteger } from '../settings.js';
import {
  type Context,
  reportSkipped,
  type SkipBrokenOptions,
  withFlakeOptions,
  withSkipBrokenOption,
} from './shared.js';

interface SequenceOptions extends FlakeOptions, SkipBrokenOptions {
  parallel: number;
  json?: boolean;
  lines?: boolean;
}

export function sequenceCommand(program: Command, context: Context): void {
  const { output, env } = context;
  withSkipBrokenOption(withFlakeOptions(program.command('sequence')))
    .description('show the reboot plan: stages by rebootOrder, dependencies first')
    .argument('[targets...]', 'machine names, @group or all (default: all)')
    .option(
      '-p, --parallel <n>',
      'machines of one stage that may reboot together',
      positiveInteger('--parallel'),
      1,
    )
    .option('--json', 'print JSON (stable format)')
    .option('--lines', 'print one `machine:rebootDelay` line per machine, in order (for scripts)')
    .action(async (targets: string[], options: SequenceOptions) => {
      // A bad LAB_MAINTENANCE_WINDOW is refused before anything is evaluated.
      const global = globalMaintenanceWindow(env);
      const inventory = await loadInventory(flakeSettings(options, env));
      const plan = planSequence(inventory, {
        targets,
        parallel: options.parallel,
        skipBroken: options.skipBroken === true,
      });
      const windows = { now: Date.now(), global };
      if (options.json) output.json(sequenceJson(plan, inventory, windows));
      else if (options.lines) {
        reportSkipped(context, plan.skipped);
        output.lines(sequenceLines(plan));
      } else output.lines(sequenceText(plan, inventory, output.style, windows));
    });

  // The seed's orchestrator script reads `lab get-reboot-sequence`.
  withSkipBrokenOption(withFlakeOptions(program.command('get-reboot-sequence')))
    .description('the same as `lab sequence --lines`: one `machine:rebootDelay` line per machine')
    .argument('[targets...]', 'machine names, @group or all (default: all)')
    .action(async (targets: string[], options: FlakeOptions & SkipBrokenOptions) => {
      const inventory = await loadInventory(flakeSettings(options, env));
      const plan = planSequence(inventory, { targets, parallel: 1, skipBroken: options.skipBroken === true });
      reportSkipped(context, plan.skipped);
      output.lines(sequenceLines(plan));
    });
}
