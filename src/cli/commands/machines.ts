import type { Command } from 'commander';
import { loadInventory } from '../../domain/inventory/load-inventory.js';
import { UnknownTargetError } from '../../errors.js';
import { machinesJson, machinesText } from '../render/machines.js';
import { type FlakeOptions, flakeSettings } from '../settings.js';
import { type Context, withFlakeOptions } from './shared.js';

interface MachinesOptions extends FlakeOptions {
  group?: string;
  json?: boolean;
}

export function machinesCommand(program: Command, { output, env }: Context): void {
  withFlakeOptions(program.command('machines'))
    .description('list the machines of the flake and their lab.machine metadata')
    .option('-g, --group <group>', 'only machines in this group')
    .option('--json', 'print JSON (stable format)')
    .action(async (options: MachinesOptions) => {
      const inventory = await loadInventory(flakeSettings(options, env));
      const group = options.group?.replace(/^@/, '');
      const machines =
        group === undefined
          ? inventory.machines
          : inventory.machines.filter((machine) => machine.groups.includes(group));
      if (group !== undefined && machines.length === 0 && inventory.machines.length > 0) {
        throw new UnknownTargetError(`no machine is in group '${group}'`);
      }
      if (options.json) output.json(machinesJson(inventory, machines));
      else output.lines(machinesText(inventory, machines, output.style));
    });
}
