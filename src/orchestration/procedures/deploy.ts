import { randomUUID } from 'node:crypto';
import type { DeployHost, MachineSystems, SwitchAction } from '../../domain/deploy/deploy-host.js';
import { BuildError } from '../../domain/deploy/errors.js';
import { rollbackCheck, rollbackDisagreements } from '../../domain/deploy/rollback-check.js';
import { describeUnhealthy, type MachineHealth } from '../../domain/health/check-result.js';
import type { Machine } from '../../domain/inventory/schema.js';
import { pause } from '../../util/pause.js';
import { CopyAhead } from '../copy-ahead.js';
import { strategyInfo } from '../deploy-strategies.js';
import { deployPhases } from '../phases.js';
import {
  type EnginePorts,
  failAs,
  type MachineStop,
  PhaseFailure,
  type PhaseResult,
  type Procedure,
  type RunContext,
  RunEngine,
} from '../run-engine.js';
import type { DeployPhase, RunFailure } from '../run-events.js';
import { RunCancelled, RunParked, stopFor, throwIfStopped } from '../run-flow.js';
import {
  type Activation,
  type DeployRunState,
  type MachineProgress,
  nextStepMachines,
  type RollbackStep,
  type RunState,
} from '../run-state.js';
import { type WindowGateOptions, windowGate } from '../window-gate.js';

export interface DeployProcedureOptions extends WindowGateOptions {
  readonly host: DeployHost;
  /**
   * Builds every machine's system before any machine is touched: machine → store path. A
   * BuildError with `failures` names the machines whose systems did not build.
   */
  readonly build: (machines: readonly string[], signal?: AbortSignal) => Promise<Map<string, string>>;
  readonly healthIntervalMs?: number;
  /**
   * How many closures are copied at once to the machines of later steps while earlier steps
   * activate and are gated (LAB_COPY_CONCURRENCY). Unset or 0: each closure is copied only when
   * its machine's turn comes.
   */
  readonly copyAhead?: number;
}

/**
 * A deploy: build everything, then step by step by the step's strategy (deploy-strategies.ts) —
 * rolling: copy, set profile and switch, health-gate; blue-green: copy, `test`, health-gate, then
 * commit (profile and `boot`); recreate: the step's machines at once, checked together. A machine
 * that fails is rolled back (profile and running system) and checked again. A resumed run
 * reconciles with the machine: a profile already set is not set again, and an activation started
 * before the run was interrupted is waited for (by its id), not started again.
 */
export function deployProcedure(options: DeployProcedureOptions): Procedure {
  const { host } = options;
  /** Machines whose activation this process has begun (before the state records it). */
  const changing = new Set<string>();
  const system = (state: RunState, name: string): string => {
    const built = state.systems?.[name];
    if (!built) throw new PhaseFailure('build', `no system was built for ${name}`);
    return built;
  };

  /** The closure copies of the run under way (one set per `run`: a resumed run copies anew). */
  let copies: CopyAhead | null = null;
  const copiesOf = (run: RunContext): CopyAhead => {
    copies ??= new CopyAhead(options.copyAhead ?? 0, (name, signal) =>
      host.copy(run.state.machines[name] as Machine, system(run.state, name), signal),
    );
    return copies;
  };

  /**
   * The machines of the steps after the current one that have not begun, in run order: their
   * closures are copied ahead (up to `copyAhead` at once) while this step activates and is gated.
   */
  const copyLaterSteps = (run: RunContext): void => {
    const { state } = run;
    if (!options.copyAhead || !state.systems || run.stops.beforeChange.aborted) return;
    const later = state.steps
      .slice(state.step + 1)
      .flatMap((step) => step.machines)
      .filter((name) => run.progress(name).phase === 'pending' && state.systems?.[name] !== undefined);
    copiesOf(run).ahead(later);
  };

  const next = (phase: string): PhaseResult => ({ type: 'next', phase });
  /** The activation of the phase before is done: cleared in the write that moves the machine on. */
  const advance = (progress: MachineProgress, phase: string): void => {
    if (progress.phase !== phase) progress.activation = null;
  };

  const started = (progress: MachineProgress, built: string, action: SwitchAction): boolean => {
    const { activation } = progress;
    return activation != null && activation.system === built && activation.action === action;
  };

  /**
   * Runs the activation once: its id is checkpointed before it starts, so a run resumed after a
   * crash waits for the activation that may be running (or reads how it ended) instead of
   * starting a second one.
   */
  const switchOnce = async (
    run: RunContext,
    machine: Machine,
    built: string,
    action: SwitchAction,
    where: DeployPhase,
  ): Promise<void> => {
    const progress = run.progress(machine.name);
    if (!started(progress, built, action)) {
      progress.activation = { id: `${run.state.id}-${randomUUID()}`, action, system: built };
      await run.save();
    }
    const { id } = progress.activation as Activation;
    await failAs(where, host.switchTo(machine, built, action, id));
  };

  /** Adds the profile generation once: a resumed run reads whether a worker before a crash did. */
  const setProfileOnce = async (run: RunContext, machine: Machine, built: string, where: DeployPhase) => {
    const progress = run.progress(machine.name);
    if (progress.profileSet) return;
    if (run.resumed) {
      const now = await failAs(where, host.systems(machine));
      const before = progress.previous?.generation ?? null;
      if (now.profile === built && now.generation !== null && now.generation !== before) {
        progress.createdGeneration = now.generation;
        progress.profileSet = true;
        await run.save();
        return;
      }
    }
    progress.createdGeneration = await failAs(where, host.setProfile(machine, built));
    progress.profileSet = true;
    await run.save();
  };

  /**
   * The new system becomes the profile's generation and what boots: with `switch` (rolling,
   * recreate) it also runs now; with `boot` (blue-green's commit, after `test` passed its gate)
   * it becomes the boot default without being activated again.
   */
  const commit = async (run: RunContext, machine: Machine, action: 'switch' | 'boot'): Promise<void> => {
    const progress = run.progress(machine.name);
    const built = system(run.state, machine.name);
    const where: DeployPhase = progress.phase === 'committing' ? 'commit' : 'activation';
    // Stopped before anything was activated (a resumed run asks the machine): it is not touched.
    if (!deployPhases.changed(progress)) {
      const now = run.resumed ? await failAs('activation', host.systems(machine)) : null;
      if (now?.profile !== built && now?.current !== built) throwIfStopped(run.stops.beforeChange);
    }
    changing.add(machine.name);
    if (!started(progress, built, action))
      run.report({ type: 'machine.activating', machine: machine.name, action, system: built });
    await setProfileOnce(run, machine, built, where);
    await switchOnce(run, machine, built, action, where);
  };

  /** `test` of the new system (blue-green's trial): persists nothing. */
  const trial = async (run: RunContext, machine: Machine): Promise<void> => {
    const progress = run.progress(machine.name);
    const built = system(run.state, machine.name);
    // Stopped before anything was activated: the machine is not touched.
    if (!deployPhases.changed(progress)) throwIfStopped(run.stops.beforeChange);
    changing.add(machine.name);
    if (!started(progress, built, 'test'))
      run.report({ type: 'machine.activating', machine: machine.name, action: 'test', system: built });
    await switchOnce(run, machine, built, 'test', 'activation');
  };

  const waitHealthy = (run: RunContext, machine: Machine, signal: AbortSignal): Promise<MachineHealth> =>
    run.waitHealthy(
      machine,
      (m) => host.checkHealth(m),
      run.state.settings.healthTimeout,
      options.healthIntervalMs,
      signal,
    );

  /** The health gate. */
  const gate = async (run: RunContext, machine: Machine): Promise<void> => {
    const signal = run.stops.afterChange;
    const health = await waitHealthy(run, machine, signal);
    if (!health.ok && signal.aborted) throw stopFor(signal);
    if (!health.ok)
      throw new PhaseFailure('health', describeUnhealthy(health, run.state.settings.healthTimeout));
  };

  const phases: Record<
    string,
    (machine: Machine, progress: MachineProgress, run: RunContext) => Promise<PhaseResult>
  > = {
    pending: async (machine, progress, run) => {
      system(run.state, machine.name);
      throwIfStopped(run.stops.beforeChange);
      const window = await windowGate(machine, progress, run, 'deploy', options);
      if (window) return window;
      copyLaterSteps(run);
      host.warm?.(nextStepMachines(run.state));
      progress.previous ??= await failAs('copy', host.systems(machine));
      return next('copying');
    },
    copying: async (machine, _progress, run) => {
      const built = system(run.state, machine.name);
      throwIfStopped(run.stops.beforeChange);
      const { record, ahead } = copiesOf(run).take(machine.name);
      run.report({
        type: 'machine.copying',
        machine: machine.name,
        system: built,
        ahead,
        copyStartedAt: new Date(record.startedAt).toISOString(),
        copiedAt: record.finishedAt === null ? null : new Date(record.finishedAt).toISOString(),
      });
      await record.done.catch((error: Error) => {
        // A cancel or park ends the copy: the machine is not touched, not failed.
        throwIfStopped(run.stops.beforeChange);
        throw new PhaseFailure('copy', error.message);
      });
      return next('activating');
    },
    activating: async (machine, _progress, run) => {
      if (strategyOf(run, machine).trial) await trial(run, machine);
      else await commit(run, machine, 'switch');
      return next('health');
    },
    health: async (machine, _progress, run) => {
      await gate(run, machine);
      if (!strategyOf(run, machine).trial) return { type: 'done' };
      return next('committing');
    },
    committing: async (machine, _progress, run) => {
      await commit(run, machine, 'boot');
      return { type: 'done' };
    },
  };

  /**
   * Carries out (or, resumed, finishes) the machine's rollback step by step, each checkpointed;
   * then says "rolled back" only if what it reads back agrees with what ran before.
   */
  const rollBack = async (run: RunContext, machine: Machine): Promise<void> => {
    const progress = run.progress(machine.name);
    const { previous } = progress;
    if (!previous) return;
    for (let step = progress.rollbackSteps?.[0]; step; step = progress.rollbackSteps?.[0]) {
      try {
        if (step.kind === 'profile') {
          if (step.generation === null)
            throw new Error('lab does not know which profile generation it was on before the deploy');
          await host.restoreProfile(machine, step.generation, step.created);
          progress.profileSet = false;
        } else if (step.kind === 'activate') {
          await switchOnce(run, machine, step.system, step.action, 'activation');
        } else {
          await verifyRollback(run, machine, previous);
        }
      } catch (error) {
        progress.rollback = {
          ok: false,
          reason: `${describeStep(step)} failed: ${(error as Error).message}`,
          verified: null,
        };
        progress.rollbackSteps = null;
        progress.activation = null;
        run.report({ type: 'machine.rolled-back', machine: machine.name, ...progress.rollback });
        await run.save();
        return;
      }
      progress.rollbackSteps = progress.rollbackSteps?.slice(1) ?? null;
      if (progress.rollbackSteps?.length === 0) progress.rollbackSteps = null;
      progress.activation = null;
      await run.save();
    }
  };

  /** Health, then what runs, the profile and the boot default, compared with what ran before. */
  const verifyRollback = async (
    run: RunContext,
    machine: Machine,
    previous: MachineSystems,
  ): Promise<void> => {
    const progress = run.progress(machine.name);
    const signal = run.stops.afterChange;
    const health = await waitHealthy(run, machine, signal);
    const now = await host.systems(machine);
    const problems = rollbackDisagreements(previous, now);
    if (!health.ok)
      problems.push(
        signal.aborted
          ? 'the run was stopped before its health checks passed'
          : `the previous system is back but unhealthy: ${describeUnhealthy(health)}`,
      );
    const verified = rollbackCheck(previous, now, health.ok);
    progress.rollback =
      problems.length === 0
        ? { ok: true, reason: null, verified }
        : { ok: false, reason: problems.join('; '), verified };
    run.report({ type: 'machine.rolled-back', machine: machine.name, ...progress.rollback });
  };

  /** A stage's recreate machines: all switch at once, then are checked together. */
  const runTogether = async (names: readonly string[], run: RunContext): Promise<MachineStop[]> => {
    const machines = names.map((name) => run.state.machines[name] as Machine);
    const phase = (machine: Machine) => run.progress(machine.name).phase;
    const failed = machines.filter((machine) => phase(machine) === 'failed');
    const pending = machines.filter((machine) => !deployPhases.phases[phase(machine)]?.terminal);
    const groupFailure = 'rolled back with its recreate group';
    if (failed.length > 0) {
      // A crash interrupted the group's rollback: finish it, the whole group goes back.
      await Promise.all([
        ...failed.map((machine) => rollBack(run, machine)),
        ...pending.map((machine) => run.fail(machine.name, 'health', groupFailure)),
      ]);
      return names.map(() => null);
    }
    for (const machine of pending) run.progress(machine.name).startedAt ??= Date.now();
    const errors = await Promise.all(
      pending.map(async (machine) => {
        try {
          const progress = run.progress(machine.name);
          throwIfStopped(deployPhases.changed(progress) ? run.stops.afterChange : run.stops.beforeChange);
          for (const step of ['pending', 'copying', 'activating'] as const) {
            if (progress.phase !== step) continue;
            const result = await untilNotWaiting(
              () => phases[step]?.(machine, progress, run) as Promise<PhaseResult>,
              run.stops.beforeChange,
            );
            if (result.type === 'fail') throw new PhaseFailure(result.label ?? 'copy', result.reason);
            if (result.type === 'next') {
              advance(progress, result.phase);
              progress.phase = result.phase;
              await run.save();
            }
          }
          if (progress.phase === 'health') await gate(run, machine);
          return null;
        } catch (error) {
          return error;
        }
      }),
    );
    const park = run.stops.park ?? errors.find((error) => error instanceof RunParked);
    if (park) return names.map(() => park as RunParked);
    // A cancel stopped those not activated yet; those activated are seen to the end together.
    const went = pending
      .map((machine, index) => ({ machine, error: errors[index] }))
      .filter(({ error }) => !(error instanceof RunCancelled));
    if (went.every(({ error }) => error === null)) {
      for (const { machine } of went) await run.succeed(machine.name);
    } else {
      // One failed: the whole group goes back, as it came together.
      await Promise.all(
        went.map(({ machine, error }) =>
          error instanceof PhaseFailure
            ? run.fail(machine.name, error.label, error.message)
            : error
              ? run.fail(machine.name, 'activation', (error as Error).message)
              : run.fail(machine.name, 'health', groupFailure),
        ),
      );
    }
    return names.map((name) => {
      const index = pending.findIndex((machine) => machine.name === name);
      const error = index >= 0 ? errors[index] : null;
      return error instanceof RunCancelled ? error : null;
    });
  };

  return {
    table: deployPhases,
    announcesSteps: true,
    approvesBeforeStep: true,
    advance,
    phase: (name, run) => {
      const progress = run.progress(name);
      const phase = phases[progress.phase];
      if (!phase) throw new PhaseFailure('activation', `unknown phase ${progress.phase}`);
      return phase(run.state.machines[name] as Machine, progress, run);
    },
    together: (step) => strategyInfo(step.strategy).together,
    runTogether,
    changing: (name) => changing.has(name),
    succeeded: () => ({ what: 'deployed' }),
    ended: () => {
      copies?.stop();
      copies = null;
    },
    before: async (run) => {
      const { state, stops } = run;
      // A cancel or park ends the copies made ahead: nothing more is copied.
      stops.beforeChange.addEventListener('abort', () => copies?.stop(), { once: true });
      if (state.systems != null) {
        copyLaterSteps(run);
        return null;
      }
      throwIfStopped(stops.beforeChange);
      const names = state.steps.flatMap((step) => step.machines);
      run.report({ type: 'deploy.building', machines: names });
      try {
        state.systems = Object.fromEntries(await options.build(names, stops.beforeChange));
      } catch (error) {
        if (stops.beforeChange.aborted) throw stopFor(stops.beforeChange);
        return buildFailed(run, error as Error);
      }
      run.report({ type: 'deploy.built', systems: state.systems });
      await run.save();
      copyLaterSteps(run);
      return null;
    },
    failing: (progress, from) => {
      // Before 'activating' nothing of the new system was activated or persisted.
      const touched = from !== 'pending' && from !== 'copying' && progress.error?.phase !== 'copy';
      const { previous } = progress;
      if (touched && previous?.current != null) {
        progress.rollbackSteps = rollbackSteps(previous, progress);
        progress.activation = null; // the rollback's activations are its own
      }
    },
    failed: async (name, fresh, run) => {
      const progress = run.progress(name);
      const machine = run.state.machines[name] as Machine;
      if (!progress.rollbackSteps || !progress.previous?.current) return;
      if (fresh)
        run.report({
          type: 'machine.rolling-back',
          machine: name,
          to: progress.previous.current,
          generation: progress.previous.generation ?? null,
        });
      await rollBack(run, machine);
    },
    after: async (run) => {
      const { state } = run;
      state.needsReboot ??= [];
      const { needsReboot } = state;
      const deployed = Object.keys(state.progress).filter(
        (name) => run.progress(name).phase === 'succeeded' && !needsReboot.includes(name),
      );
      for (const name of deployed) {
        try {
          const facts = await host.facts(state.machines[name] as Machine);
          if (facts.needsReboot) {
            needsReboot.push(name);
            run.report({ type: 'machine.needs-reboot', machine: name, changed: facts.changed });
          }
        } catch {
          // Not knowing is reported as not needing; the deploy itself succeeded.
        }
      }
      await run.save();
    },
    retryRun: (state) => {
      // The build failed: build again.
      state.systems = null;
      for (const progress of Object.values(state.progress))
        if (progress.error?.phase === 'build') progress.error = null;
    },
  };

  function strategyOf(run: RunContext, machine: Machine) {
    const step = run.state.steps.find((s) => s.machines.includes(machine.name));
    return strategyInfo(step?.strategy ?? machine.deployStrategy);
  }
}

/**
 * The build failed: the machines whose systems did not build are named (each with its reason,
 * as a `machine.failed` of phase build); none was touched. Halts (or fails) the run.
 */
function buildFailed(run: RunContext, error: Error): RunFailure {
  const failures = error instanceof BuildError ? error.failures : new Map<string, string>();
  for (const [machine, reason] of failures) {
    const progress = run.state.progress[machine];
    if (!progress) continue;
    progress.error = { phase: 'build', reason };
    run.report({ type: 'machine.failed', machine, phase: 'build', reason });
  }
  return {
    machine: null,
    phase: 'build',
    reason: error.message,
    ...(failures.size > 0 ? { machines: [...failures.keys()] } : {}),
  };
}

/**
 * How a failed machine goes back to exactly what ran before (not "the generation below", which
 * after an earlier rollback may be another failed system). Where lab changed the profile (and so
 * the boot loader): the profile back on its generation and lab's generation deleted, then the
 * previous system's `switch`, which installs the boot loader without that entry and with the
 * previous system as default. If what ran differed from the profile, its `boot`, then what ran
 * `test`. Where nothing was persisted (blue-green before its commit): `test` of what ran.
 */
export function rollbackSteps(previous: MachineSystems, progress: MachineProgress): RollbackStep[] {
  const current = previous.current as string;
  if (!progress.profileSet)
    return [{ kind: 'activate', system: current, action: 'test' }, { kind: 'verify' }];
  const profile: RollbackStep = {
    kind: 'profile',
    generation: previous.generation ?? null,
    created: progress.createdGeneration ?? null,
  };
  const activations: RollbackStep[] =
    previous.profile !== null && previous.profile !== current
      ? [
          { kind: 'activate', system: previous.profile, action: 'boot' },
          { kind: 'activate', system: current, action: 'test' },
        ]
      : [{ kind: 'activate', system: current, action: 'switch' }];
  return [profile, ...activations, { kind: 'verify' }];
}

function describeStep(step: RollbackStep): string {
  if (step.kind === 'profile') return `putting its profile back on generation ${step.generation ?? '(none)'}`;
  if (step.kind === 'activate') return `switch-to-configuration ${step.action} of ${step.system}`;
  return 'reading back what it runs';
}

/** A deploy run's engine: the deploy procedure over `host`, with the engine's ports. */
export function deployEngine<S extends DeployRunState | RunState>(
  state: S,
  ports: DeployProcedureOptions & EnginePorts<S>,
): RunEngine {
  return new RunEngine(state, deployProcedure(ports), ports as EnginePorts);
}

/**
 * A phase of a recreate group's machine run to a result other than a wait: a wait that must park
 * (a worker) parks the group; one the engine would wait out (at a terminal) is waited out here.
 */
async function untilNotWaiting(phase: () => Promise<PhaseResult>, signal: AbortSignal): Promise<PhaseResult> {
  for (;;) {
    const result = await phase();
    if (result.type !== 'wait') return result;
    if (result.park) throw new RunParked(result.until, result.why);
    await pause(result.until - Date.now(), signal);
    throwIfStopped(signal);
  }
}
