import type { Inventory, Machine } from '../../domain/inventory/schema.js';
import type { Plan } from '../../domain/planner/plan.js';
import type { MaintenanceWindow } from '../../domain/schedule/maintenance-window.js';
import { machineWindow } from '../../orchestration/maintenance-window-setting.js';
import { windowJson, windowText, windowView } from '../../orchestration/maintenance-window-text.js';
import type { Style } from './style.js';

/** What the windows are seen against: the time, and LAB_MAINTENANCE_WINDOW (null: unset). */
export interface WindowContext {
  readonly now: number;
  readonly global: MaintenanceWindow | null;
}

/** The stable `lab sequence --json` document. Field order and names are part of the interface. */
export interface SequenceJson {
  steps: {
    rebootOrder: number;
    machines: {
      name: string;
      rebootDelay: number;
      criticalityLevel: string;
      dependencies: string[];
      /** Only for a machine with a maintenance window (its own or LAB_MAINTENANCE_WINDOW). */
      window?: ReturnType<typeof windowJson>;
    }[];
  }[];
  unmanaged: string[];
  warnings: string[];
  /** Hosts that could not be read and that the plan goes on without (--skip-broken). */
  skipped: { name: string; reason: string }[];
}

export function sequenceJson(
  plan: Plan,
  inventory: Pick<Inventory, 'unmanaged'>,
  windows: WindowContext = { now: Date.now(), global: null },
): SequenceJson {
  return {
    steps: plan.steps.map((step) => ({
      rebootOrder: step.rebootOrder,
      machines: step.machines.map((machine) => {
        const window = machineWindow(machine, windows.global);
        return {
          name: machine.name,
          rebootDelay: machine.rebootDelay,
          criticalityLevel: machine.criticalityLevel,
          dependencies: [...machine.dependencies],
          ...(window ? { window: windowJson(windowView(window, windows.now)) } : {}),
        };
      }),
    })),
    unmanaged: inventory.unmanaged.map((host) => host.name),
    // The plan says what it does with the hosts that could not be read (skipped, or not in it).
    warnings: [...plan.warnings],
    skipped: plan.skipped.map((host) => ({ name: host.name, reason: host.reason })),
  };
}

/** `machine:rebootDelay`, one line per machine in plan order: the seed's `get-reboot-sequence` format. */
export function sequenceLines(plan: Plan): string[] {
  return plan.steps.flatMap((step) =>
    step.machines.map((machine) => `${machine.name}:${machine.rebootDelay}`),
  );
}

export const seconds = (value: number): string => `${value} ${value === 1 ? 'second' : 'seconds'}`;

/**
 * The plan as people read it, numbered like `1. sleeper-service (delay: 0 seconds)`; machines
 * sharing a step (with --parallel) share its number.
 */
export function sequenceText(
  plan: Plan,
  inventory: Pick<Inventory, 'flake' | 'unmanaged'>,
  style: Style,
  windows: WindowContext = { now: Date.now(), global: null },
): string[] {
  const machineCount = plan.steps.reduce((sum, step) => sum + step.machines.length, 0);
  const lines = [
    style.bold(
      `Reboot sequence for ${inventory.flake}: ${machineCount} ${machineCount === 1 ? 'machine' : 'machines'} in ${plan.steps.length} ${plan.steps.length === 1 ? 'step' : 'steps'}`,
    ),
  ];
  if (plan.steps.length === 0) lines.push('  (no machines selected)');
  let stage: number | undefined;
  plan.steps.forEach((step, index) => {
    if (step.rebootOrder !== stage) {
      stage = step.rebootOrder;
      lines.push('', style.dim(`rebootOrder ${stage}`));
    }
    const number = `${index + 1}.`;
    step.machines.forEach((machine, position) => {
      const prefix = position === 0 ? number : ' '.repeat(number.length);
      lines.push(`  ${prefix} ${machineLine(machine, style)}`);
      const window = machineWindow(machine, windows.global);
      if (window)
        lines.push(
          `  ${' '.repeat(prefix.length)} ${style.dim(windowText(windowView(window, windows.now), windows.now))}`,
        );
    });
  });
  if (inventory.unmanaged.length > 0) {
    lines.push('', `Unmanaged (no lab.machine): ${inventory.unmanaged.map((host) => host.name).join(', ')}`);
  }
  if (plan.skipped.length > 0) lines.push('', ...skippedLines(plan.skipped, style));
  const warnings = plan.warnings;
  if (warnings.length > 0) {
    lines.push('', style.yellow('Warnings:'), ...warnings.map((warning) => `  - ${warning}`));
  }
  return lines;
}

/** The hosts a plan goes on without, for people: a heading and one line per host. */
export function skippedLines(skipped: Plan['skipped'], style: Style): string[] {
  return [
    style.yellow('Skipped (could not be read; --skip-broken):'),
    ...skipped.map((host) => `  ${host.name}: ${host.reason}`),
  ];
}

function machineLine(machine: Machine, style: Style): string {
  const criticality =
    machine.criticalityLevel === 'critical' || machine.criticalityLevel === 'high'
      ? style.red(machine.criticalityLevel)
      : machine.criticalityLevel;
  const after = machine.dependencies.length > 0 ? `, after ${machine.dependencies.join(', ')}` : '';
  return `${machine.name} (delay: ${seconds(machine.rebootDelay)}) ${style.dim('·')} ${criticality}${after}`;
}
