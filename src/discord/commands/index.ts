import { ApplicationCommandType, type RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import { cancel } from './cancel.js';
import type { Command } from './command.js';
import { deploy } from './deploy.js';
import { diff } from './diff.js';
import { health } from './health.js';
import { machines } from './machines.js';
import { power } from './power.js';
import { reboot } from './reboot.js';
import { sequence } from './sequence.js';
import { silence } from './silence.js';
import { silences } from './silences.js';
import { status } from './status.js';
import { unsilence } from './unsilence.js';

/** The `/lab` subcommands by name, in the order Discord lists them. */
export const commands = {
  machines,
  sequence,
  health,
  diff,
  reboot,
  deploy,
  power,
  status,
  cancel,
  silence,
  silences,
  unsilence,
} as const;

export type Subcommand = keyof typeof commands;

/** The subcommand of that name; undefined for a name lab does not have. */
export function commandNamed(name: string): Command | undefined {
  return Object.hasOwn(commands, name) ? (commands[name as Subcommand] as Command) : undefined;
}

/** `/lab` and its subcommands, as the data Discord registers: each subcommand's own definition. */
export const labCommand = {
  type: ApplicationCommandType.ChatInput,
  name: 'lab',
  description: 'Orchestrate the homelab: plans, reboots, deploys, health',
  dm_permission: false,
  options: Object.values(commands).map((command) => command.definition),
} satisfies RESTPostAPIChatInputApplicationCommandsJSONBody;

export const commandDefinitions: RESTPostAPIChatInputApplicationCommandsJSONBody[] = [labCommand];
