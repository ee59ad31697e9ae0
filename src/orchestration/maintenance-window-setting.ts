import type { Machine } from '../domain/inventory/schema.js';
import { type MaintenanceWindow, parseWindow } from '../domain/schedule/maintenance-window.js';
import { ConfigurationError } from '../errors.js';

/** The variable of the global maintenance window. */
export const MAINTENANCE_WINDOW_VARIABLE = 'LAB_MAINTENANCE_WINDOW';

/**
 * The global maintenance window, LAB_MAINTENANCE_WINDOW (`[days] HH:MM-HH:MM [time zone]`, e.g.
 * `mon-fri 01:00-05:00 Europe/Berlin`); null when unset or empty. An invalid value is a
 * ConfigurationError naming the variable and what is wrong.
 */
export function globalMaintenanceWindow(env: NodeJS.ProcessEnv = process.env): MaintenanceWindow | null {
  const value = env[MAINTENANCE_WINDOW_VARIABLE]?.trim();
  if (!value) return null;
  try {
    return parseWindow(value);
  } catch (error) {
    throw new ConfigurationError(`${MAINTENANCE_WINDOW_VARIABLE}: ${(error as Error).message}`);
  }
}

/** The window a machine's reboot or activation must start in: its own, else the global one; null: any time. */
export const machineWindow = (
  machine: Pick<Machine, 'maintenanceWindow'>,
  global: MaintenanceWindow | null,
): MaintenanceWindow | null => machine.maintenanceWindow ?? global;
