import { mapConcurrent } from '../../util/map-concurrent.js';
import type { Machine } from '../inventory/schema.js';
import type { RebootHost } from './reboot-host.js';

/** Machines whose booted system equals the current one (`--only-needed`), with why they are skipped. */
export async function machinesNotNeedingReboot(
  host: Pick<RebootHost, 'facts'>,
  machines: readonly Machine[],
): Promise<Map<string, string>> {
  const facts = await mapConcurrent(machines, 16, (machine) => host.facts(machine));
  const skipped = new Map<string, string>();
  machines.forEach((machine, index) => {
    if (!facts[index]?.needsReboot)
      skipped.set(machine.name, 'booted system is current (kernel, initrd and modules unchanged)');
  });
  return skipped;
}
