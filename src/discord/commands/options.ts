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

/** The `window` option: keep to each machine's maintenance window, or start now whatever it is. */
export const windowOption = {
  type: ApplicationCommandOptionType.String,
  name: 'window',
  description: "Each machine's maintenance window: wait for it, or start now anyway (default: start now)",
  required: false,
  choices: [
    { name: 'wait for each window', value: 'wait' },
    { name: 'start now anyway', value: 'now' },
  ] as { name: string; value: 'wait' | 'now' }[],
} as const;

/** The run request's window fields from the `window` option. */
export const windowOf = (window: 'wait' | 'now' | null): { inWindow: boolean; forceWindow: boolean } => ({
  inWindow: window === 'wait',
  forceWindow: window === 'now',
});
