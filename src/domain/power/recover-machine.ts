import type { Machine } from '../inventory/schema.js';
import type { MachineAnswer } from '../reboot/reboot-host.js';
import type { PowerActionResult, PowerControl } from './power-control.js';
import { recoveryAction } from './power-steps.js';

/** What lab's recovery needs: one look at the machine with the full timeouts, and its power. */
export interface RecoveryPorts {
  /** SshRebootHost.probe: TCP and SSH each get the full connect timeout. */
  readonly probe: (machine: Machine) => Promise<MachineAnswer>;
  readonly power: PowerControl;
}

/**
 * What the recovery did:
 * - `not configured`: its `recover` is "never", or it has no way to power-cycle or wake it;
 * - `answers`: SSH answered the last look (bootId: what it runs; null when its host key or the
 *   login was refused): nothing was done, lab never powers off a machine that answers;
 * - `unclear`: its port accepted but SSH failed another way: nothing was done either;
 * - `powered`: it power-cycled (or woke) the machine once; `result.ok` says whether the power
 *   action itself worked (the machine's coming back is for the caller to wait for).
 */
export type RecoveryOutcome =
  | { readonly kind: 'not configured' }
  | { readonly kind: 'answers'; readonly bootId: string | null; readonly reason: string | null }
  | { readonly kind: 'unclear'; readonly reason: string }
  | { readonly kind: 'powered'; readonly action: 'cycle' | 'on'; readonly result: PowerActionResult };

/**
 * Brings back a machine that did not come back after a reboot, once: if its `lab.machine.power`
 * allows it (`recover = "power-cycle"`), it probes SSH once more with the full connect timeout
 * and, only when that finds the machine down (refused, unreachable, or silent for the whole
 * timeout), power-cycles it (or, with Wake-on-LAN alone, wakes it). `onPower` gets the power
 * action's result before the function returns (for the `machine.power` event).
 * Calling it at most once per machine per run is the caller's part.
 */
export async function recoverMachine(
  machine: Machine,
  ports: RecoveryPorts,
  options: { readonly onPower?: (result: PowerActionResult) => void; readonly signal?: AbortSignal } = {},
): Promise<RecoveryOutcome> {
  const action = recoveryAction(machine);
  if (action === null) return { kind: 'not configured' };
  const answer = await ports.probe(machine);
  if (answer.kind === 'answers') return { kind: 'answers', bootId: answer.bootId, reason: answer.reason };
  if (answer.kind === 'unknown') return { kind: 'unclear', reason: answer.reason };
  const result = await ports.power[action](machine, options.signal ? { signal: options.signal } : {});
  options.onPower?.(result);
  return { kind: 'powered', action, result };
}

/** The recovery in words, for a halt's reason or a log line. */
export function recoveryText(machine: string, outcome: RecoveryOutcome): string {
  switch (outcome.kind) {
    case 'not configured':
      return `${machine} has no automatic power recovery (lab.machine.power.recover)`;
    case 'answers':
      return outcome.bootId
        ? `${machine} answers SSH (boot ${outcome.bootId.slice(0, 8)}), so lab did not power-cycle it`
        : `${machine} answers SSH (${outcome.reason}), so lab did not power-cycle it`;
    case 'unclear':
      return `${machine} accepted a connection but SSH failed (${outcome.reason}), so lab did not power-cycle it`;
    case 'powered': {
      const what = outcome.action === 'cycle' ? 'power-cycled' : 'powered on';
      return outcome.result.ok
        ? `lab ${what} ${machine} once`
        : `lab tried to ${outcome.action === 'cycle' ? 'power-cycle' : 'power on'} ${machine}: ${outcome.result.error?.message ?? 'failed'}`;
    }
  }
}
