import { BOOT_DEFAULT_COMMAND, keyValues, parseBootDefault } from '../hosts/boot-default.js';
import { type BootParts, bootComponents } from '../hosts/host-facts.js';
import type { MachineSystems } from './deploy-host.js';
import { SYSTEM_PROFILE } from './remote-commands.js';

/**
 * One round trip for what runs, what the profile points at (store path and generation), what
 * /run/booted-system booted and what the boot loader boots by default. A fixed command: nothing in
 * it comes from configuration. Each line is `key=value`; a missing path gives an empty value.
 */
export const READ_SYSTEMS_COMMAND = [
  'printf "current=%s\\n" "$(readlink -f /run/current-system 2>/dev/null)"',
  `printf "profile=%s\\n" "$(readlink -f ${SYSTEM_PROFILE} 2>/dev/null)"`,
  `printf "profile.link=%s\\n" "$(readlink ${SYSTEM_PROFILE} 2>/dev/null)"`,
  'for c in kernel initrd kernel-modules; do',
  '  printf "booted.%s=%s\\n" "$c" "$(readlink /run/booted-system/$c 2>/dev/null)"',
  'done',
  BOOT_DEFAULT_COMMAND,
].join('\n');

/** The generation number of a profile link's target, `system-12-link`. */
export function profileGeneration(link: string): number | null {
  const number = /(?:^|\/)system-(\d+)-link$/.exec(link.trim())?.[1];
  return number === undefined ? null : Number(number);
}

/** Parses the output of {@link READ_SYSTEMS_COMMAND}. */
export function parseSystems(output: string): MachineSystems {
  const pairs = keyValues(output);
  const value = (key: string) => pairs.find(([name]) => name === key)?.[1] || null;
  const parts = Object.fromEntries(
    bootComponents.map((component) => [component, value(`booted.${component}`)]),
  ) as Record<(typeof bootComponents)[number], string | null>;
  const booted: BootParts | null = bootComponents.some((component) => parts[component] !== null)
    ? parts
    : null;
  return {
    current: value('current'),
    profile: value('profile'),
    generation: profileGeneration(value('profile.link') ?? ''),
    bootDefault: parseBootDefault(pairs),
    booted,
  };
}
