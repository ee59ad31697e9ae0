import { ApplicationCommandOptionType } from 'discord.js';

/** The `target` option: a machine, `@group` or `all` (autocompleted). */
export const targetOption = <const Required extends boolean, const Description extends string>(
  required: Required,
  description: Description,
) =>
  ({
    type: ApplicationCommandOptionType.String,
    name: 'target',
    description,
    required,
    autocomplete: true,
    max_length: 100,
  }) as const;

/** The `skip-broken` option: go on without the hosts that could not be read (else refused). */
export const skipBrokenOption = {
  type: ApplicationCommandOptionType.Boolean,
  name: 'skip-broken',
  description:
    'Go on without hosts whose lab.machine cannot be read (else a plan of all or a group is refused)',
  required: false,
} as const;
