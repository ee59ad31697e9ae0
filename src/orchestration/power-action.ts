import type { Machine } from '../domain/inventory/schema.js';
import type { PowerActionResult, PowerControl } from '../domain/power/power-control.js';
import { type PowerAction, powerSteps } from '../domain/power/power-steps.js';
import type { RunEventInput } from './run-events.js';

/** The `machine.power` event of a power action's result. */
export function powerEvent(
  result: PowerActionResult,
  trigger: { readonly trigger: 'operator' | 'recovery'; readonly by: string | null },
): Extract<RunEventInput, { type: 'machine.power' }> {
  return {
    type: 'machine.power',
    machine: result.machine,
    action: result.action,
    trigger: trigger.trigger,
    by: trigger.by,
    ok: result.ok,
    reason: result.error?.message ?? null,
    steps: result.steps,
  };
}

/** Whether the action needs the approvals (or the confirmation) a reboot of the machine needs. */
export const powerNeedsApproval = (action: PowerAction): boolean => action === 'off' || action === 'cycle';

export interface PowerActionPorts {
  readonly power: PowerControl;
  /**
   * Asked before `off` and `cycle` when the machine's criticality needs it (the reboot's
   * confirmation or approvals); not approved: nothing is done.
   */
  readonly confirm?: (machine: Machine) => Promise<{ approved: boolean; reason?: string }>;
  readonly report: (event: RunEventInput) => void;
}

/**
 * An operator's power action on one machine: the machine's method is resolved first (a machine
 * without it throws NoPowerControlError, nothing done), then the confirmation for `off` and
 * `cycle`, then the action, reported as a `machine.power` event. Returns its result; null when it
 * was not confirmed.
 */
export async function operatorPowerAction(
  machine: Machine,
  action: PowerAction,
  by: string,
  ports: PowerActionPorts,
  options: { readonly needsConfirmation: boolean },
): Promise<{ result: PowerActionResult } | { refused: string }> {
  powerSteps(machine, action);
  if (options.needsConfirmation && powerNeedsApproval(action) && ports.confirm) {
    const answer = await ports.confirm(machine);
    if (!answer.approved)
      return { refused: answer.reason ?? `the power ${action} of ${machine.name} was not confirmed` };
  }
  const result = await ports.power[action](machine);
  ports.report(powerEvent(result, { trigger: 'operator', by }));
  return { result };
}
