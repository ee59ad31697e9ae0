import type { Machine } from '../../domain/inventory/schema.js';
import type { PowerControl } from '../../domain/power/power-control.js';
import { powerSteps } from '../../domain/power/power-steps.js';
import { powerPhases } from '../phases.js';
import { operatorPowerAction, powerNeedsApproval } from '../power-action.js';
import { type EnginePorts, failAs, type PhaseResult, type Procedure, RunEngine } from '../run-engine.js';
import { throwIfStopped } from '../run-flow.js';
import type { PowerRunState, RunState } from '../run-state.js';

export interface PowerProcedureOptions {
  readonly power: PowerControl;
}

/**
 * A power run: one machine, one action (state.power). Its method is checked first (a machine
 * without one fails at power, nothing done); off and cycle then need the approvals a reboot of the
 * machine needs (the engine's approval port, by its criticality); the action is begun once: its
 * start is saved before lab acts, so a run resumed after a crash never acts a second time. The
 * result is reported as machine.power (trigger operator, by who asked); a failing command fails
 * the machine, naming the method and the reason.
 */
export function powerProcedure(options: PowerProcedureOptions): Procedure {
  return {
    table: powerPhases,
    announcesSteps: false,
    phase: async (name, run): Promise<PhaseResult> => {
      const progress = run.progress(name);
      const machine = run.state.machines[name] as Machine;
      const { action, by } = (run.state as PowerRunState).power;
      if (progress.phase === 'pending') {
        // No method for it: refused before anyone is asked to approve.
        await failAs(
          'power',
          Promise.resolve().then(() => powerSteps(machine, action)),
        );
        return { type: 'next', phase: 'confirmation' };
      }
      if (progress.phase === 'confirmation') {
        if (powerNeedsApproval(action)) {
          const answer = await run.approve(machine);
          if (answer === 'denied') throw run.stops.cancel;
          if (answer !== 'approved') return answer;
        }
        throwIfStopped(run.stops.beforeChange);
        return { type: 'next', phase: 'power' };
      }
      if ((progress.powerStartedAt ?? null) !== null)
        return {
          type: 'fail',
          reason: `the power ${action} of ${name} was begun before the run was interrupted; lab does not repeat it (lab power ${name} status reads its state)`,
        };
      progress.powerStartedAt = Date.now();
      await run.save();
      const outcome = await failAs(
        'power',
        operatorPowerAction(
          machine,
          action,
          by,
          { power: options.power, report: (event) => run.report(event) },
          { needsConfirmation: false },
        ),
      );
      if ('refused' in outcome) return { type: 'fail', reason: outcome.refused };
      const { result } = outcome;
      if (!result.ok) return { type: 'fail', reason: result.error?.message ?? `the power ${action} failed` };
      return { type: 'done' };
    },
    succeeded: () => ({ what: 'powered' }),
  };
}

/** A power run's engine. */
export function powerEngine<S extends PowerRunState | RunState>(
  state: S,
  ports: PowerProcedureOptions & EnginePorts<S>,
): RunEngine {
  return new RunEngine(state, powerProcedure(ports), ports as EnginePorts);
}
