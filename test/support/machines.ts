import type { Inventory, Machine } from '../../src/domain/inventory/schema.js';

/** A machine with the module's defaults, for pure tests. */
export function machine(name: string, fields: Partial<Omit<Machine, 'name'>> = {}): Machine {
  return {
    name,
    hostName: name,
    role: 'test',
    groups: [],
    rebootOrder: 1,
    dependencies: [],
    healthChecks: [],
    deployStrategy: 'rolling',
    rebootDelay: 600,
    criticalityLevel: 'medium',
    ssh: { host: name, port: 22, user: 'root' },
    ...fields,
  };
}

export function inventoryOf(machines: Machine[], extra: Partial<Inventory> = {}): Inventory {
  return { flake: 'test', revision: null, machines, unmanaged: [], broken: [], warnings: [], ...extra };
}
