import type { Decision } from '../orchestration/run-flow.js';

/**
 * What a button does, encoded in its custom_id (at most 100 characters): `lab:<action>:...`.
 * Everything in it is checked again on the server when the button is clicked.
 */
export type ButtonAction =
  | {
      readonly action: 'approve' | 'deny';
      readonly runId: string;
      readonly machine: string;
      readonly plan: string;
    }
  | {
      /** Start a machine waiting for its maintenance window now (`lab:start-now:`). */
      readonly action: 'start-now';
      readonly runId: string;
      readonly machine: string;
      readonly plan: string;
    }
  | { readonly action: 'cancel'; readonly runId: string }
  | {
      readonly action: 'decide';
      readonly runId: string;
      readonly decision: Decision;
      readonly haltAt: number;
    }
  /** The monitor's alert: reboot the machine, silence it for a while, check it now. */
  | { readonly action: 'monitor-reboot' | 'check'; readonly machine: string }
  | { readonly action: 'silence'; readonly machine: string; readonly duration: string }
  /** `/lab silences`: remove one. */
  | { readonly action: 'unsilence'; readonly silence: string }
  /** Power-cycle the machine (a power run); from a halted run's alert, under that run's lock. */
  | { readonly action: 'power-cycle'; readonly machine: string; readonly haltedRun: string | null }
  | {
      readonly action: 'start';
      readonly plan: string;
      readonly target: string;
      /** The plan was shown going on without the hosts that could not be read (`lab:start-skip-broken:`). */
      readonly skipBroken: boolean;
    };

export function encodeButton(button: ButtonAction): string {
  const parts = (() => {
    switch (button.action) {
      case 'approve':
      case 'deny':
      case 'start-now':
        return [button.action, button.runId, button.machine, button.plan];
      case 'cancel':
        return ['cancel', button.runId];
      case 'decide':
        return ['decide', button.runId, button.decision, String(button.haltAt)];
      case 'power-cycle':
        return ['power-cycle', button.machine, ...(button.haltedRun ? [button.haltedRun] : [])];
      case 'start':
        return [button.skipBroken ? 'start-skip-broken' : 'start', button.plan, button.target];
      case 'monitor-reboot':
      case 'check':
        return [button.action, button.machine];
      case 'silence':
        return ['silence', button.machine, button.duration];
      case 'unsilence':
        return ['unsilence', button.silence];
    }
  })();
  const id = ['lab', ...parts].join(':');
  if (id.length > 100) throw new Error(`button id too long (${id.length} > 100): ${id.slice(0, 40)}…`);
  return id;
}

/** The action of a custom_id, or null for anything lab did not make. */
export function decodeButton(customId: string): ButtonAction | null {
  const [prefix, action, ...rest] = customId.split(':');
  if (prefix !== 'lab') return null;
  switch (action) {
    case 'approve':
    case 'deny':
    case 'start-now': {
      const [runId, machine, plan] = rest;
      return runId && machine && plan && rest.length === 3 ? { action, runId, machine, plan } : null;
    }
    case 'cancel':
      return rest[0] && rest.length === 1 ? { action, runId: rest[0] } : null;
    case 'decide': {
      const [runId, decision, haltAt] = rest;
      if (!runId || !haltAt || !/^\d+$/.test(haltAt)) return null;
      if (decision !== 'retry' && decision !== 'skip' && decision !== 'abort') return null;
      return { action, runId, decision, haltAt: Number(haltAt) };
    }
    case 'power-cycle': {
      const [machine, haltedRun] = rest;
      return machine && rest.length <= 2 && haltedRun !== ''
        ? { action, machine, haltedRun: haltedRun ?? null }
        : null;
    }
    case 'start':
    case 'start-skip-broken': {
      const [plan, ...target] = rest;
      return plan && target.length > 0
        ? { action: 'start', plan, target: target.join(':'), skipBroken: action === 'start-skip-broken' }
        : null;
    }
    case 'monitor-reboot':
    case 'check':
      return rest[0] && rest.length === 1 ? { action, machine: rest[0] } : null;
    case 'silence': {
      const [machine, duration] = rest;
      return machine && duration && rest.length === 2 ? { action, machine, duration } : null;
    }
    case 'unsilence':
      return rest[0] && rest.length === 1 ? { action, silence: rest[0] } : null;
    default:
      return null;
  }
}
