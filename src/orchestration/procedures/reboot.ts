import { describeUnhealthy } from '../../domain/health/check-result.js';
import type { Machine } from '../../domain/inventory/schema.js';
import type { PowerControl } from '../../domain/power/power-control.js';
import { BootIdChangedError, RebootTimeoutError } from '../../domain/reboot/errors.js';
import type { RebootHost } from '../../domain/reboot/reboot-host.js';
import { pause } from '../../util/pause.js';
import { rebootPhases } from '../phases.js';
import {
  type EnginePorts,
  failAs,
  PhaseFailure,
  type PhaseResult,
  type Procedure,
  type RunContext,
  RunEngine,
} from '../run-engine.js';
import { throwIfStopped } from '../run-flow.js';
import { type MachineProgress, nextStepMachines, type RebootRunState, rebootTimesOf } from '../run-state.js';
import { type WindowGateOptions, windowGate } from '../window-gate.js';
import { comingBackDeadline, recoverAfterTimeout } from './reboot-recovery.js';

export interface RebootProcedureOptions extends WindowGateOptions {
  readonly host: RebootHost;
  /** Power control for lab's automatic recovery (reboot-recovery.ts); without it none is tried. */
  readonly power?: PowerControl;
  /** How long to wait between health attempts (default 500 ms). */
  readonly healthIntervalMs?: number;
  /**
   * How long to poll actively for a machine to come back before parking the run (for
   * `parkPollMs`). Unset: wait actively until the reboot deadline.
   */
  readonly activeMs?: number;
  readonly parkPollMs?: number;
}

/** The shortest active wait for a machine to come back before the run parks again. */
const MIN_ACTIVE_MS = 1_000;

/**
 * A reboot, machine by machine: delay → confirmation → reboot command → coming back (new boot
 * id) → health → stability. Each phase resumes wherever the machine's progress stands: finished
 * phases are not repeated, and a reboot command that may have been sent is reconciled with the
 * machine's boot id instead of being sent twice. Until the reboot command is sent a cancel stops
 * the machine; from then on it is seen back and checked healthy (the engine's `signalFor`).
 */
export function rebootProcedure(options: RebootProcedureOptions): Procedure {
  const { host } = options;
  const phases: Record<
    string,
    (machine: Machine, progress: MachineProgress, run: RunContext) => Promise<PhaseResult>
  > = {
    pending: async (machine, progress, run) => {
      const window = await windowGate(machine, progress, run, 'reboot', options);
      if (window) return window;
      progress.delayUntil = Date.now() + machine.rebootDelay * 1000;
      return { type: 'next', phase: 'delay' };
    },
    delay: async (machine, progress, run) => {
      const until = progress.delayUntil ?? 0;
      if (until > Date.now()) {
        run.report({
          type: 'machine.waiting',
          machine: machine.name,
          reason: 'delay',
          seconds: Math.ceil((until - Date.now()) / 1000),
        });
        return { type: 'wait', until, why: `rebootDelay of ${machine.name}` };
      }
      throwIfStopped(run.stops.beforeChange);
      return { type: 'next', phase: 'confirmation' };
    },
    confirmation: async (machine, progress, run) => {
      const answer = await run.approve(machine);
      if (answer === 'denied') throw run.stops.cancel;
      if (answer !== 'approved') return answer;
      // An approval that came after its window closed waits for the next opening.
      const window = await windowGate(machine, progress, run, 'reboot', options);
      if (window) return window;
      throwIfStopped(run.stops.beforeChange);
      return { type: 'next', phase: 'rebooting' };
    },
    rebooting: async (machine, progress, run) => {
      const signal = run.stops.beforeChange;
      if ((progress.rebootSentAt ?? null) === null) {
        // A bootIdBefore without rebootSentAt: interrupted around the reboot command.
        const before = progress.bootIdBefore ?? null;
        const sent = before !== null && (await rebootedSince(host, machine, before));
        if (!sent) {
          // Read while the step before ran (warm), else now.
          const ahead = before === null ? ((await host.bootIdReadAhead?.(machine)) ?? null) : null;
          const bootId = before ?? ahead ?? (await failAs('reboot command', host.bootId(machine)));
          if (signal.aborted) {
            // Stopped before the command: the machine is not touched.
            progress.bootIdBefore = null;
            throwIfStopped(signal);
          }
          const sentTo = await sendReboot(host, machine, run, bootId, ahead === bootId);
          run.report({ type: 'machine.rebooting', machine: machine.name, bootId: sentTo });
        }
        progress.rebootSentAt = Date.now();
      }
      return { type: 'next', phase: 'coming-back' };
    },
    'coming-back': async (machine, progress, run) => {
      // The next step's connections open (and its boot ids are read) while this step's machines
      // are down: its turn starts without a handshake, and this step's reboot commands did not
      // wait behind those handshakes.
      host.warm?.(nextStepMachines(run.state));
      const after = run.stops.afterChange;
      const previous = progress.bootIdBefore as string;
      const deadline = comingBackDeadline(progress, run.state.settings.rebootTimeout);
      const { activeMs, parkPollMs = 5_000 } = options;
      // Every wake polls for a moment at least (LAB_ACTIVE_WAIT=0 would never look at the machine).
      const activeFor = activeMs === undefined ? undefined : Math.max(activeMs, MIN_ACTIVE_MS);
      const activeUntil = activeFor === undefined ? deadline : Math.min(deadline, Date.now() + activeFor);
      let back: { bootId: string; downMs: number };
      try {
        back = await host.waitForNewBoot(machine, previous, {
          deadline: activeUntil,
          signal: after,
          onDown: () => {
            // Kept across parks: a machine down for longer than one poll is down since the first.
            progress.downAt ??= Date.now();
            run.report({ type: 'machine.down', machine: machine.name });
          },
        });
      } catch (error) {
        throwIfStopped(after);
        if (error instanceof RebootTimeoutError && activeUntil < deadline)
          return {
            type: 'wait',
            until: Math.min(deadline, Date.now() + parkPollMs),
            why: `${machine.name} to come back`,
            park: true,
          };
        if (!(error instanceof RebootTimeoutError))
          throw new PhaseFailure('coming back', (error as Error).message);
        // The real deadline: lab's one automatic power action, if the machine has one.
        const recovery = await recoverAfterTimeout(machine, progress, run, error, options);
        if (recovery.type === 'again') return { type: 'next', phase: 'coming-back' };
        if (recovery.type === 'failed') throw new PhaseFailure('coming back', recovery.reason);
        back = { bootId: recovery.bootId, downMs: 0 };
      }
      throwIfStopped(after);
      progress.bootIdAfter = back.bootId;
      // Unknown (null) when it was not seen down: it came back between two polls, or before a
      // resumed run looked.
      progress.downMs = progress.downAt ? Date.now() - progress.downAt : null;
      run.report({
        type: 'machine.up',
        machine: machine.name,
        bootId: back.bootId,
        previousBootId: previous,
        downMs: progress.downMs ?? back.downMs,
      });
      return { type: 'next', phase: 'health' };
    },
    health: async (machine, progress, run) => {
      const after = run.stops.afterChange;
      const { healthTimeout } = run.state.settings;
      const health = await run.waitHealthy(
        machine,
        (m) => host.checkHealth(m),
        healthTimeout,
        options.healthIntervalMs,
        after,
      );
      throwIfStopped(health.ok ? undefined : after);
      if (!health.ok) return { type: 'fail', reason: describeUnhealthy(health, healthTimeout) };
      progress.healthyAt = Date.now();
      return { type: 'next', phase: 'stability' };
    },
    stability: async (machine, _progress, run) => {
      const after = run.stops.afterChange;
      const { stabilityWindow } = run.state.settings;
      const until = Date.now() + stabilityWindow * 1000;
      while (Date.now() < until) {
        await pause(Math.min(options.healthIntervalMs ?? 1000, until - Date.now()), after);
        throwIfStopped(after);
        const health = await host.checkHealth(machine);
        if (!health.ok) {
          run.reportHealth(machine.name, health, 0);
          return {
            type: 'fail',
            reason: `${describeUnhealthy(health)} during the ${stabilityWindow} s stability window`,
          };
        }
      }
      return { type: 'done' };
    },
  };
  return {
    table: rebootPhases,
    announcesSteps: true,
    phase: (name, run) => {
      const progress = run.progress(name);
      const phase = phases[progress.phase];
      if (!phase) throw new PhaseFailure('health', `unknown phase ${progress.phase}`);
      return phase(run.state.machines[name] as Machine, progress, run);
    },
    succeeded: (progress) => ({ what: 'rebooted', times: rebootTimesOf(progress) }),
  };
}

/**
 * Sends the reboot command to boot `bootId` (saved first: a run interrupted now finds it sent or
 * not by that boot id) and resolves with the boot it reached. A boot id read ahead may be stale
 * (the machine rebooted on its own since): the guard then sends nothing, and it is read again.
 */
async function sendReboot(
  host: RebootHost,
  machine: Machine,
  run: RunContext,
  bootId: string,
  readAhead: boolean,
): Promise<string> {
  const progress = run.progress(machine.name);
  progress.bootIdBefore = bootId;
  await run.save();
  try {
    await host.sendReboot(machine, run.state.settings.rebootCommand, bootId);
    return bootId;
  } catch (error) {
    if (!(error instanceof BootIdChangedError && readAhead))
      throw new PhaseFailure('reboot command', (error as Error).message);
  }
  return sendReboot(host, machine, run, await failAs('reboot command', host.bootId(machine)), false);
}

/**
 * Whether the reboot command was sent before the run was interrupted: the machine is down,
 * runs another boot than `bootId`, or is shutting down (it received the command and still
 * answers while it stops its services: sending it again would be a second reboot command).
 */
async function rebootedSince(host: RebootHost, machine: Machine, bootId: string): Promise<boolean> {
  try {
    if ((await host.bootId(machine)) !== bootId) return true;
    return (await host.shuttingDown?.(machine)) === true;
  } catch {
    return true;
  }
}

/** A reboot run's engine: the reboot procedure over `host`, with the engine's ports. */
export function rebootEngine<S extends RebootRunState>(
  state: S,
  ports: RebootProcedureOptions & EnginePorts<S>,
): RunEngine {
  return new RunEngine(state, rebootProcedure(ports), ports as EnginePorts);
}
