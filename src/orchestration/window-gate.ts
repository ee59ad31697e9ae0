import type { Machine } from '../domain/inventory/schema.js';
import { type MaintenanceWindow, windowDecision } from '../domain/schedule/maintenance-window.js';
import { machineWindow } from './maintenance-window-setting.js';
import type { PhaseResult, RunContext } from './run-engine.js';
import type { ApprovalPort } from './run-flow.js';
import type { MachineProgress, RunSettings } from './run-state.js';

/**
 * The maintenance window gate of reboots and deploys, called before a machine is changed. A run
 * whose settings say `window: 'inside'` (scheduled runs, --in-window) starts a machine's reboot
 * or activation only inside its window (its own, else the run's global one) and only when it can
 * finish before the window closes; otherwise the machine waits (parks, in a worker) for the first
 * opening it fits in, and the wait is recorded in its progress for the run report. An operator's
 * Start now (the approval port's `startNow`) lets it start at once; a run with `window: 'forced'`
 * (--force-window) or none starts at once.
 */

/** How long a machine's step is expected to take: what must fit in its window (ms). */
export function expectedDuration(machine: Machine, settings: RunSettings, kind: 'reboot' | 'deploy'): number {
  const reboot = kind === 'reboot' ? machine.rebootDelay + settings.stabilityWindow : 0;
  return (reboot + settings.rebootTimeout + settings.healthTimeout) * 1000;
}

export interface WindowGateOptions {
  readonly approval?: ApprovalPort;
  /** Set in a worker: the wait parks the run, holding no worker. */
  readonly parkAboveMs?: number;
}

/**
 * Null: the machine may start now (any window wait ends here). Else the wait (or, when no
 * opening of its window is long enough, the failure) to return from the phase.
 */
export async function windowGate(
  machine: Machine,
  progress: MachineProgress,
  run: RunContext,
  kind: 'reboot' | 'deploy',
  options: WindowGateOptions,
): Promise<PhaseResult | null> {
  const { settings } = run.state;
  if (settings.window !== 'inside' || (progress.windowForcedBy ?? null) !== null) return endWait(progress);
  const forced = (await options.approval?.startNow?.(machine.name)) ?? null;
  if (forced) {
    progress.windowForcedBy = forced.by;
    endWait(progress);
    run.report({ type: 'machine.window-forced', machine: machine.name, by: forced.by });
    await run.save();
    return null;
  }
  const now = Date.now();
  const window = machineWindow(machine, settings.maintenanceWindow ?? null);
  const decision = windowDecision(window, now, expectedDuration(machine, settings, kind));
  if (decision.kind === 'start') return endWait(progress);
  if (decision.kind === 'never') {
    endWait(progress);
    return { type: 'fail', label: 'maintenance window', reason: decision.reason };
  }
  const waiting = progress.windowWait ?? null;
  if (waiting === null || waiting.opensAt !== decision.until) {
    progress.windowWait = {
      from: waiting?.from ?? now,
      opensAt: decision.until,
      closesAt: decision.closesAt,
    };
    await run.save();
    run.report({
      type: 'machine.waiting',
      machine: machine.name,
      reason: 'window',
      opensAt: new Date(decision.until).toISOString(),
      closesAt: new Date(decision.closesAt).toISOString(),
      why: decision.reason,
    });
  }
  return {
    type: 'wait',
    until: decision.until,
    why: `the maintenance window of ${machine.name}`,
    ...(options.parkAboveMs !== undefined ? { park: true } : {}),
  };
}

/** A wait for the window under way is over now: recorded for the run report. */
function endWait(progress: MachineProgress): null {
  const waiting = progress.windowWait ?? null;
  if (waiting !== null) {
    progress.windowWaits = [...(progress.windowWaits ?? []), { from: waiting.from, to: Date.now() }];
    progress.windowWait = null;
  }
  return null;
}

/** A run's window settings from its request (see RunSettings.window): none unless asked for. */
export function runWindowSettings(
  request: { readonly inWindow?: boolean; readonly forceWindow?: boolean },
  global: MaintenanceWindow | null,
): Pick<RunSettings, 'window' | 'maintenanceWindow'> {
  if (request.inWindow) return { window: 'inside', maintenanceWindow: global };
  if (request.forceWindow) return { window: 'forced', maintenanceWindow: global };
  return {};
}
