import type { Machine } from '../../domain/inventory/schema.js';
import type { PowerControl } from '../../domain/power/power-control.js';
import { recoveryAction } from '../../domain/power/power-steps.js';
import { recoverMachine, recoveryText } from '../../domain/power/recover-machine.js';
import type { RebootTimeoutError } from '../../domain/reboot/errors.js';
import type { RebootHost } from '../../domain/reboot/reboot-host.js';
import { powerEvent } from '../power-action.js';
import type { RunContext } from '../run-engine.js';
import type { MachineProgress } from '../run-state.js';

/**
 * What a reboot's coming-back phase does once a machine missed its deadline:
 * - `again`: lab power-cycled (or woke) it: wait again, from a new deadline;
 * - `back`: the last look found it up with a new boot (it came back just as the deadline passed);
 * - `failed`: the reason the machine fails at coming back (the timeout, and what recovery did).
 */
export type RecoveryStep =
  | { readonly type: 'again' }
  | { readonly type: 'back'; readonly bootId: string }
  | { readonly type: 'failed'; readonly reason: string };

/** When a machine must be back: its reboot timeout after the reboot command, or after lab's power action. */
export function comingBackDeadline(progress: MachineProgress, rebootTimeoutS: number): number {
  const recovery = progress.powerRecovery ?? null;
  // A recovery interrupted before it ended counts from its start (the action may have been taken).
  const powered = recovery ? (recovery.endedAt ?? recovery.startedAt) : 0;
  return Math.max(progress.rebootSentAt ?? Date.now(), powered) + rebootTimeoutS * 1000;
}

/**
 * The machine did not come back by its reboot deadline (`timeout`): lab's automatic recovery, at
 * most once per machine per run. Recorded in the machine's progress and saved before lab looks or
 * acts, so that a run resumed after a crash never acts a second time. Only a machine whose
 * `lab.machine.power.recover` is "power-cycle" is touched, and only when one more probe with the
 * full connect timeouts finds it down (never a machine that answers SSH); the power action is
 * reported as `machine.power` (trigger recovery). A machine without recovery fails as before.
 */
export async function recoverAfterTimeout(
  machine: Machine,
  progress: MachineProgress,
  run: RunContext,
  timeout: RebootTimeoutError,
  ports: { readonly host: RebootHost; readonly power?: PowerControl | undefined },
): Promise<RecoveryStep> {
  const { host, power } = ports;
  const seconds = run.state.settings.rebootTimeout;
  const previous = progress.powerRecovery ?? null;
  if (previous) return { type: 'failed', reason: afterRecovery(machine.name, previous, seconds, timeout) };
  if (!power || !host.probe || recoveryAction(machine) === null)
    return { type: 'failed', reason: timeout.message };
  const recovery = {
    startedAt: Date.now(),
    reason: timeout.message,
    endedAt: null,
    powered: false,
    text: null,
  };
  progress.powerRecovery = recovery;
  await run.save();
  const probe = host.probe.bind(host);
  const outcome = await recoverMachine(
    machine,
    { probe, power },
    {
      onPower: (result) => run.report(powerEvent(result, { trigger: 'recovery', by: null })),
      signal: run.stops.afterChange,
    },
  );
  const text = recoveryText(machine.name, outcome);
  const powered = outcome.kind === 'powered' && outcome.result.ok;
  progress.powerRecovery = { ...recovery, endedAt: Date.now(), powered, text };
  await run.save();
  if (powered) return { type: 'again' };
  const before = progress.bootIdBefore ?? null;
  if (outcome.kind === 'answers' && outcome.bootId !== null && outcome.bootId !== before)
    return { type: 'back', bootId: outcome.bootId };
  return { type: 'failed', reason: `${timeout.message}; ${text}` };
}

/** The failure of a machine whose one recovery is behind it: the reboot, then what lab did and after. */
function afterRecovery(
  name: string,
  recovery: NonNullable<MachineProgress['powerRecovery']>,
  seconds: number,
  timeout: RebootTimeoutError,
): string {
  if (recovery.text === null)
    return `${recovery.reason}; lab began its one automatic power action on ${name} but the run was interrupted before it ended, and ${name} has not come back within ${seconds} s since (not repeated)`;
  if (!recovery.powered) return `${recovery.reason}; ${recovery.text}`;
  const seen =
    timeout.lastSeen === 'old boot'
      ? 'it still answers with its old boot id'
      : timeout.lastSeen === 'no answer'
        ? `its SSH port has not answered a TCP connect for the last ${timeout.silentSeconds ?? 0} s`
        : 'SSH never answered again';
  return `${recovery.reason}; ${recovery.text}, and it did not come back within ${seconds} s of that either (${seen})`;
}
