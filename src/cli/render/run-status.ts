import { timelineText } from '../../orchestration/machine-timeline.js';
import { phaseInfo, phaseTable } from '../../orchestration/phases.js';
import type { RunRecord } from '../../orchestration/queue/run-queue.js';
import type { RunState } from '../../orchestration/queue/run-request.js';
import { failedWhere } from '../../orchestration/run-event-text.js';
import { isRunDone, stepMachines } from '../../orchestration/run-state.js';
import { timelinesOfRun } from '../../orchestration/run-timeline.js';
import { type Style, table } from './style.js';

const ago = (ms: number): string => {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  if (s < 129600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
};

/** The machines of each step, whatever the kind of run. */
export const runSteps = (state: RunState): string[][] => stepMachines(state);

function phaseOf(state: RunState, machine: string): string {
  return state.progress[machine]?.phase ?? 'pending';
}

/** Each machine's phase, in run order. */
export function machinePhases(state: RunState): { machine: string; phase: string }[] {
  return runSteps(state)
    .flat()
    .map((machine) => ({ machine, phase: phaseOf(state, machine) }));
}

/** What a run is doing, in a few words. */
export function runSituation(record: RunRecord): string {
  const { state } = record.data;
  if (state.status === 'halted' && state.halt) {
    return `halted: ${failedWhere(state.halt)}`;
  }
  if (state.status === 'cancelled') return `cancelled${state.cancelReason ? `: ${state.cancelReason}` : ''}`;
  if (state.status === 'aborted') return `aborted${state.abortReason ? `: ${state.abortReason}` : ''}`;
  if (state.status === 'running' || state.status === 'pending') {
    const waiting =
      record.jobState === 'delayed' ? ', parked' : record.jobState === 'waiting' ? ', queued' : '';
    const cancelling = state.cancelReason ? `, cancelling: ${state.cancelReason}` : '';
    return `${state.status} (step ${Math.min(state.step + 1, state.steps.length)}/${state.steps.length}${waiting}${cancelling})`;
  }
  return state.status;
}

/** The stable `lab status --json` document of a run. */
export function runJson(record: RunRecord) {
  const { data, jobState } = record;
  const { state } = data;
  return {
    runId: state.id,
    kind: state.kind,
    status: state.status,
    job: jobState,
    flake: state.flake,
    plan: data.planId,
    requestedBy: data.request.requestedBy.name,
    source: data.request.source,
    requestedAt: new Date(data.requestedAt).toISOString(),
    startedAt: state.startedAt === null ? null : new Date(state.startedAt).toISOString(),
    finishedAt: state.finishedAt === null ? null : new Date(state.finishedAt).toISOString(),
    step: state.step,
    steps: runSteps(state),
    machines: machinePhases(state).map(({ machine, phase }) => {
      const progress = state.progress[machine];
      return {
        name: machine,
        phase,
        // A health result is not an error of a step: `lab status --json` shows none for it.
        error: phaseTable(state.kind).failureText === 'failure' ? (progress?.error ?? null) : null,
        approvals: progress?.approval.approvals ?? [],
      };
    }),
    halt: state.halt,
    cancelReason: state.cancelReason,
    /** Hosts that could not be read and that the run goes on without (skipBroken). */
    skipped: (data.skipped ?? []).map((host) => ({ name: host.name, reason: host.reason })),
    abortReason: state.abortReason ?? null,
  };
}

export function runsText(records: readonly RunRecord[], style: Style, now = Date.now()): string[] {
  if (records.length === 0) return ['No runs.'];
  const rows = records.map((record) => {
    const { data } = record;
    const table = phaseTable(data.state.kind);
    const marks = machinePhases(data.state).map(
      ({ machine, phase }) => `${machine}${phaseInfo(table, phase).mark}`,
    );
    return [
      data.state.id,
      data.state.kind,
      runSituation(record),
      data.request.requestedBy.name,
      ago(now - data.requestedAt),
      marks.join(' '),
    ];
  });
  const lines = table([['RUN', 'KIND', 'STATUS', 'STARTED BY', 'AGE', 'MACHINES'], ...rows]);
  return [style.bold(lines[0] ?? ''), ...lines.slice(1)];
}

export function runText(record: RunRecord, style: Style): string[] {
  const { data } = record;
  const { state } = data;
  const lines = [
    `${style.bold(`${state.kind} run ${state.id}`)}: ${runSituation(record)}`,
    `  flake ${state.flake}, plan ${data.planId}, started by ${data.request.requestedBy.name} (${data.request.source}) ` +
      `at ${new Date(data.requestedAt).toISOString()}`,
  ];
  runSteps(state).forEach((step, index) => {
    lines.push(
      `  step ${index + 1}${index === state.step && state.status === 'running' ? ' (current)' : ''}:`,
    );
    for (const machine of step) {
      const phase = phaseOf(state, machine);
      const progress = state.progress[machine];
      const approvals = progress?.approval.approvals ?? [];
      const failure =
        progress?.error && phaseTable(state.kind).failureText === 'failure' ? progress.error : null;
      const windowWait = progress?.windowWait ?? null;
      const extra = [
        windowWait && !isRunDone(state.status)
          ? style.yellow(
              `waits for its window, opens ${new Date(windowWait.opensAt).toISOString()} (lab start-now ${state.id} ${machine})`,
            )
          : '',
        progress?.windowForcedBy ? `started outside its window by ${progress.windowForcedBy}` : '',
        approvals.length > 0 ? `approved by ${approvals.map((a) => `${a.by} at ${a.at}`).join(', ')}` : '',
        failure ? style.red(`failed at ${failure.phase}: ${failure.reason}`) : '',
        progress?.skipReason ? style.dim(progress.skipReason) : '',
      ].filter(Boolean);
      lines.push(`    ${machine.padEnd(16)} ${phase}${extra.length > 0 ? `  ${extra.join('; ')}` : ''}`);
    }
  });
  for (const host of data.skipped ?? [])
    lines.push(style.yellow(`  skipped (could not be read): ${host.name}: ${host.reason}`));
  if (state.halt) {
    lines.push(
      style.red(`  halted: ${state.halt.reason}`),
      `  decide by ${new Date(state.halt.expiresAt).toISOString()}: lab retry|skip|abort ${state.id}`,
    );
  }
  // The run report: each machine's waits, down, back and healthy, from the run's start.
  if (state.startedAt !== null)
    lines.push(
      '  timeline:',
      ...timelineText(timelinesOfRun(state), state.startedAt).map((line) => `    ${line}`),
    );
  return lines;
}
