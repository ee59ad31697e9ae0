import type { Command } from 'commander';
import { loadInventory } from '../../domain/inventory/load-inventory.js';
import type { Inventory, Machine } from '../../domain/inventory/schema.js';
import { LocalPowerControl } from '../../domain/power/local-power-control.js';
import { type PowerAction, powerActions } from '../../domain/power/power-steps.js';
import { ConfigurationError, UsageError } from '../../errors.js';
import { operatorPowerAction } from '../../orchestration/power-action.js';
import { stampEvent } from '../../orchestration/run-events.js';
import { defaultRebootSettings } from '../../orchestration/run-state.js';
import { cliActor, submitAndFollow } from '../queue-support.js';
import { eventPrinter, requireConfirmable, terminalPrompt } from '../run-support.js';
import { type FlakeOptions, flakeSettings } from '../settings.js';
import { type Context, withFlakeOptions } from './shared.js';

interface PowerOptions extends FlakeOptions {
  yes?: boolean;
  json?: boolean;
  as?: string;
  queue?: boolean;
}

export function powerCommand(program: Command, context: Context): void {
  withFlakeOptions(program.command('power'))
    .description(
      'switch a machine on or off, power-cycle it, or read its power state, through its lab.machine.power (Wake-on-LAN or its commands, run without a shell)',
    )
    .argument('<machine>', 'machine name')
    .argument('<action>', powerActions.join('|'))
    .option('-y, --yes', 'do not ask before powering off or cycling a high or critical machine')
    .option('--json', 'print the machine.power event as a JSON line (stable format)')
    .option(
      '-q, --queue',
      "enqueue a power run for `lab worker`s (the machine's lock, approvals for off and cycle) and follow it",
    )
    .option('--as <name>', 'who you are, for the record (default: $LAB_USER or user@host)')
    .action((name: string, action: string, options: PowerOptions) => power(name, action, options, context));
}

async function power(name: string, action: string, options: PowerOptions, context: Context): Promise<void> {
  if (!(powerActions as readonly string[]).includes(action)) {
    throw new UsageError(`unknown power action '${action}': use ${powerActions.join(', ')}`);
  }
  const settings = flakeSettings(options, context.env);
  if (options.queue) {
    if (options.yes)
      throw new UsageError('--yes cannot skip the approvals of a queued run (see LAB_APPROVALS_*)');
    await submitAndFollow(
      context,
      {
        kind: 'power',
        flake: settings.flake,
        targets: [name],
        action: action as PowerAction,
        requestedBy: cliActor(context.env, options.as),
        source: 'cli',
      },
      options.json === true,
    );
    return;
  }
  const inventory = await loadInventory(settings);
  const machine = machineNamed(inventory, name);
  const prompt = terminalPrompt(context.io);
  const confirmLevels = options.yes ? [] : defaultRebootSettings.confirmLevels;
  const needsConfirmation =
    (action === 'off' || action === 'cycle') && confirmLevels.includes(machine.criticalityLevel);
  if (needsConfirmation) requireConfirmable([machine], prompt);
  const startedAt = Date.now();
  const print = eventPrinter(context.output, options.json === true, [machine]);
  const outcome = await operatorPowerAction(
    machine,
    action as PowerAction,
    cliActor(context.env, options.as).name,
    {
      power: new LocalPowerControl(),
      confirm: async (target) => ({
        approved:
          (await prompt?.confirm(`Power ${action} ${target.name} (${target.criticalityLevel})?`)) === true,
      }),
      report: (event) => print(stampEvent(event, 'local', startedAt)),
    },
    { needsConfirmation },
  );
  if ('refused' in outcome) {
    context.io.stderr.write(`lab: ${outcome.refused}; nothing was done\n`);
    context.setExitCode(130);
    return;
  }
  const { result } = outcome;
  // The state a status command printed, as it printed it.
  if (action === 'status' && result.ok && !options.json) {
    const output = result.steps.at(-1)?.output.trim();
    if (output) context.output.lines(output.split('\n').map((line) => `  ${line}`));
  }
  if (result.error) throw result.error;
}

/** The machine of that name; a host lab cannot read or does not manage is an error saying so. */
function machineNamed(inventory: Inventory, name: string): Machine {
  const machine = inventory.machines.find((candidate) => candidate.name === name);
  if (machine) return machine;
  const broken = inventory.broken.find((host) => host.name === name);
  if (broken) throw new ConfigurationError(`${name} cannot be read: ${broken.error}`);
  if (inventory.unmanaged.some((host) => host.name === name)) {
    throw new UsageError(`${name} does not use lab's module (no lab.machine)`);
  }
  throw new UsageError(`unknown machine '${name}'`);
}
