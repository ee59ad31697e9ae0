import type { Inventory, Machine } from '../../domain/inventory/schema.js';
import { type Style, table } from './style.js';

/** The stable `lab machines --json` document. */
export function machinesJson(inventory: Inventory, machines: readonly Machine[]) {
  return {
    flake: inventory.flake,
    revision: inventory.revision,
    machines: machines.map((machine) => ({
      name: machine.name,
      hostName: machine.hostName,
      role: machine.role,
      groups: [...machine.groups],
      rebootOrder: machine.rebootOrder,
      dependencies: [...machine.dependencies],
      deployStrategy: machine.deployStrategy,
      rebootDelay: machine.rebootDelay,
      criticalityLevel: machine.criticalityLevel,
      healthChecks: machine.healthChecks.map((check) => ({ ...check })),
      ssh: { ...machine.ssh },
    })),
    unmanaged: inventory.unmanaged.map((host) => host.name),
    broken: inventory.broken.map((host) => ({ name: host.name, error: host.error })),
    warnings: [...inventory.warnings],
  };
}

export function machinesText(inventory: Inventory, machines: readonly Machine[], style: Style): string[] {
  const lines: string[] = [];
  if (machines.length === 0) lines.push('No managed machines.');
  else {
    const rows = table([
      ['NAME', 'ROLE', 'GROUPS', 'ORDER', 'CRITICALITY', 'CHECKS', 'SSH'],
      ...machines.map((machine) => [
        machine.name,
        machine.role,
        machine.groups.join(',') || '-',
        String(machine.rebootOrder),
        machine.criticalityLevel,
        String(machine.healthChecks.length),
        `${machine.ssh.user}@${machine.ssh.host}:${machine.ssh.port}`,
      ]),
    ]);
    lines.push(style.bold(rows[0] ?? ''), ...rows.slice(1));
  }
  if (inventory.unmanaged.length > 0) {
    lines.push('', `Unmanaged (no lab.machine): ${inventory.unmanaged.map((host) => host.name).join(', ')}`);
  }
  if (inventory.broken.length > 0) {
    lines.push(
      '',
      style.red('Could not be read:'),
      ...inventory.broken.map((host) => `  ${host.name}: ${host.error}`),
    );
  }
  return lines;
}
