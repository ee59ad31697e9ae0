import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord.js';
import { deployStrategies } from '../domain/inventory/schema.js';

const target = (required: boolean, description: string) =>
  ({
    type: ApplicationCommandOptionType.String,
    name: 'target',
    description,
    required,
    autocomplete: true,
    max_length: 100,
  }) as const;

/** The `skip-broken` option: go on without the hosts that could not be read (else refused). */
const skipBroken = {
  type: ApplicationCommandOptionType.Boolean,
  name: 'skip-broken',
  description:
    'Go on without hosts whose lab.machine cannot be read (else a plan of all or a group is refused)',
  required: false,
} as const;

/**
 * `/lab` and its subcommands, as the data Discord registers. The handlers read options by these
 * names; `Subcommand` below is derived from this definition.
 */
export const labCommand = {
  type: ApplicationCommandType.ChatInput,
  name: 'lab',
  description: 'Orchestrate the homelab: plans, reboots, deploys, health',
  dm_permission: false,
  options: [
    {
      type: ApplicationCommandOptionType.Subcommand,
      name: 'machines',
      description: 'List the machines and their metadata',
      options: [
        {
          type: ApplicationCommandOptionType.String,
          name: 'group',
          description: 'Only this group',
          required: false,
          autocomplete: true,
          max_length: 100,
        },
      ],
    },
    {
      type: ApplicationCommandOptionType.Subcommand,
      name: 'sequence',
      description: 'Show the reboot plan: steps, delays, criticality, approvals',
      options: [target(false, 'Machine, @group or all (default: all)'), skipBroken],
    },
    {
      type: ApplicationCommandOptionType.Subcommand,
      name: 'health',
      description: "Run the machines' health checks now",
      options: [target(false, 'Machine, @group or all (default: all)'), skipBroken],
    },
    {
      type: ApplicationCommandOptionType.Subcommand,
      name: 'reboot',
      description: 'Reboot machines in the planned order, each healthy before the next',
      options: [target(true, 'Machine, @group or all'), skipBroken],
    },
    {
      type: ApplicationCommandOptionType.Subcommand,
      name: 'deploy',
      description: "Deploy the machines' configurations, health-gated",
      options: [
        target(true, 'Machine, @group or all'),
        {
          type: ApplicationCommandOptionType.String,
          name: 'strategy',
          description: "One strategy for every machine instead of each machine's own",
          required: false,
          choices: deployStrategies.map((strategy) => ({ name: strategy, value: strategy })),
        },
        skipBroken,
      ],
    },
    {
      type: ApplicationCommandOptionType.Subcommand,
      name: 'status',
      description: 'Active and recent runs',
      options: [],
    },
    {
      type: ApplicationCommandOptionType.Subcommand,
      name: 'cancel',
      description: 'Cancel a run: it stops at the next phase boundary',
      options: [
        {
          type: ApplicationCommandOptionType.String,
          name: 'run',
          description: 'The run id',
          required: true,
          autocomplete: true,
          max_length: 64,
        },
      ],
    },
  ],
} as const satisfies RESTPostAPIChatInputApplicationCommandsJSONBody;

export type Subcommand = (typeof labCommand.options)[number]['name'];

export const commandDefinitions: RESTPostAPIChatInputApplicationCommandsJSONBody[] = [labCommand];

/** Subcommands that change something (operators only). */
export const operatorSubcommands: readonly Subcommand[] = ['reboot', 'deploy', 'cancel'];
