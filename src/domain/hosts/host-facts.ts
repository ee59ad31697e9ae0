import type { SshConnection } from '../../transport/ssh/ssh-connection.js';

/** What lab reads off a running machine to decide and to verify reboots. */
export interface HostFacts {
  /** /proc/sys/kernel/random/boot_id: changes at every boot. */
  readonly bootId: string;
  /** /run/current-system: the active configuration. */
  readonly currentSystem: string | null;
  /** /run/booted-system: the configuration the machine booted. */
  readonly bootedSystem: string | null;
  /** Booted and current system differ in kernel, initrd or kernel modules. */
  readonly needsReboot: boolean;
  /** Which of kernel, initrd, kernel-modules differ. */
  readonly changed: readonly BootComponent[];
}

export const bootComponents = ['kernel', 'initrd', 'kernel-modules'] as const;
export type BootComponent = (typeof bootComponents)[number];

/** The kernel, initrd and modules a system links to (`<toplevel>/kernel` etc.); null where it has none. */
export type BootParts = Readonly<Record<BootComponent, string | null>>;

/** Which of kernel, initrd and modules differ between two systems' boot parts. */
export const bootChanges = (next: BootParts, booted: BootParts): BootComponent[] =>
  bootComponents.filter((component) => next[component] !== booted[component]);

/**
 * One round trip for all facts. A fixed command: nothing in it comes from configuration.
 * Each line is `key=value`; a missing path gives an empty value.
 */
export const HOST_FACTS_COMMAND = [
  'printf "boot_id=%s\\n" "$(cat /proc/sys/kernel/random/boot_id)"',
  'for s in current booted; do',
  '  printf "%s=%s\\n" "$s" "$(readlink -f /run/$s-system 2>/dev/null)"',
  '  for c in kernel initrd kernel-modules; do',
  '    printf "%s.%s=%s\\n" "$s" "$c" "$(readlink -f /run/$s-system/$c 2>/dev/null)"',
  '  done',
  'done',
].join('\n');

/** Parses the output of {@link HOST_FACTS_COMMAND}. */
export function parseHostFacts(output: string): HostFacts {
  const values = new Map<string, string>();
  for (const line of output.split('\n')) {
    const separator = line.indexOf('=');
    if (separator > 0) values.set(line.slice(0, separator), line.slice(separator + 1).trim());
  }
  const bootId = values.get('boot_id') ?? '';
  if (!/^[0-9a-f-]{8,}$/i.test(bootId)) throw new Error(`unexpected boot id '${bootId}'`);
  const current = values.get('current') || null;
  const booted = values.get('booted') || null;
  const changed =
    current && booted
      ? bootComponents.filter(
          (component) => values.get(`current.${component}`) !== values.get(`booted.${component}`),
        )
      : [];
  return { bootId, currentSystem: current, bootedSystem: booted, needsReboot: changed.length > 0, changed };
}

export async function readHostFacts(connection: SshConnection, timeoutMs = 10_000): Promise<HostFacts> {
  const { stdout } = await connection.exec(HOST_FACTS_COMMAND, { timeoutMs });
  return parseHostFacts(stdout);
}
