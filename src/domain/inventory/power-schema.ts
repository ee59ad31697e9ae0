import { z } from 'zod';

/**
 * `lab.machine.power` as nix/modules/lab-machine-power.nix defines it: how the orchestrator powers
 * the machine on, off or through a cycle. Defaults mirror the module's.
 */

/** Six hex pairs with one separator throughout: `52:54:00:12:34:56` or `52-54-00-12-34-56`. */
export const MAC_PATTERN =
  /^[0-9a-f]{2}(?:(:)[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}|(-)[0-9a-f]{2}(?:\2[0-9a-f]{2}){4})$/i;

export const powerMethods = ['on', 'off', 'cycle', 'status'] as const;
export type PowerMethod = (typeof powerMethods)[number];
export const recoverModes = ['never', 'power-cycle'] as const;

/** An argv list: the program, then its arguments; run without a shell. */
const argv = z
  .array(
    z
      .string()
      .min(1, 'must not be an empty string')
      .refine((word) => !word.includes('\0'), 'must not contain NUL'),
  )
  .min(1, 'must name the program (a non-empty list of strings)')
  .nullable()
  .default(null);

export const powerSchema = z
  .strictObject({
    wakeOnLan: z
      .strictObject({
        mac: z.string().regex(MAC_PATTERN, 'must be a MAC address such as 52:54:00:12:34:56 (six hex pairs)'),
        address: z.string().min(1).default('255.255.255.255'),
        port: z.number().int().min(1).max(65535).default(9),
      })
      .nullable()
      .default(null),
    command: z
      .strictObject({
        on: argv,
        off: argv,
        cycle: argv,
        status: argv,
        environmentFile: z
          .string()
          .refine(
            (path) => path.startsWith('/') && !path.startsWith('/nix/store/'),
            'must be an absolute path outside the Nix store (secrets never go to the store)',
          )
          .nullable()
          .default(null),
        timeout: z.number().int().positive().default(60),
      })
      .prefault({}),
    recover: z.enum(recoverModes).default('never'),
  })
  .superRefine((power, ctx) => {
    const { command } = power;
    const canCycle = command.cycle !== null || (command.off !== null && command.on !== null);
    if (power.recover === 'power-cycle' && !canCycle && power.wakeOnLan === null) {
      ctx.addIssue({
        code: 'custom',
        path: ['recover'],
        message:
          '"power-cycle" needs a way to do it: power.command.cycle, power.command.off and .on, or power.wakeOnLan',
      });
    }
  })
  .prefault({});

export type PowerConfig = z.infer<typeof powerSchema>;

/** Whether the configuration gives lab any power control over the machine. */
export function hasPowerControl(power: PowerConfig): boolean {
  return (
    power.wakeOnLan !== null ||
    powerMethods.some((method) => power.command[method] !== null) ||
    power.recover !== 'never'
  );
}
