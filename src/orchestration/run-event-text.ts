import { describeRollbackCheck } from '../domain/deploy/rollback-check.js';
import { storeName } from '../util/store-path.js';
import { powerEventText } from './power-text.js';
import type { MachineOutcome, RunEvent } from './run-events.js';
import type { Approval } from './run-flow.js';

/**
 * The words for every run event, shared by every sink (the terminal, Discord, the worker's log).
 * A sink adds how things look, never other words: the terminal pads the subject into a column,
 * colours by tone, prefixes the elapsed time and appends `lab ...` hints; Discord adds icons,
 * `<t:...>` timestamps and points at its buttons.
 */

/** How an event reads: news, good news, something that needs a look, bad news, a side note. */
export type Tone = 'info' | 'good' | 'warn' | 'bad' | 'dim';

export interface EventText {
  /** Who the event is about: a machine's name, `run`, `build` or `step <n>`. */
  readonly subject: string;
  /** What the subject is, so a sink can set machine names apart (Discord writes them in bold). */
  readonly about: 'machine' | 'run' | 'build' | 'step';
  /** What happened, read after the subject: "db" + "rebooting (boot 1a2b3c4d)". */
  readonly text: string;
  readonly tone: Tone;
  /**
   * The words at the start of `text` that raise the alarm (a failure, a halt, a failed rollback).
   * A terminal, which may have no colour and no icons, writes them in capitals.
   */
  readonly alarm?: string;
}

/** How a sink shows what is not words: durations, times, the machine that failed, side remarks. */
export interface TextFormat {
  /** "1.2s" on a terminal, "2 min" on Discord. */
  duration(ms: number): string;
  /** An ISO time: the terminal's local clock, a Discord timestamp. */
  time(iso: string): string;
  /** The machine named inside a text, as the failure of a run (Discord: bold). */
  machine(name: string): string;
  /** A side remark appended to a text, with its separator: " (…)" or " · …". */
  aside(text: string): string;
  /**
   * `columns`: the subject stands in a column of its own, so a status reads as a label
   * ("run  cancelled: cancelled by bob"). `sentence`: subject and text read as one sentence, and a
   * reason that repeats the status is not repeated ("run cancelled by alice").
   */
  readonly layout: 'columns' | 'sentence';
}

/** Plain text with durations as people say them: the default, and what tests read. */
export const PLAIN_FORMAT: TextFormat = {
  duration: spokenDuration,
  time: (iso) => iso,
  machine: (name) => name,
  aside: (text) => ` (${text})`,
  layout: 'columns',
};

/** A duration as people say it: "1.2 s", "45 s", "12 min", "3.5 h". */
export function spokenDuration(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;
const shortId = (bootId: string): string => bootId.slice(0, 8);
const names = (approvals: readonly Approval[]): string => approvals.map((approval) => approval.by).join(', ');
const known = (ms: number | null | undefined): ms is number => ms !== null && ms !== undefined;

const KIND: Record<Extract<RunEvent, { type: 'run.started' }>['kind'], string> = {
  reboot: 'a reboot',
  deploy: 'a deploy',
  health: 'a health check',
  power: 'a power action',
};

/**
 * The words of an event, or null for one that adds nothing to read (`step.finished`: the next
 * step's start or the run's end says it). A sink may leave out more (Discord leaves out what its
 * run message shows by itself).
 */
export function eventText(event: RunEvent, format: TextFormat = PLAIN_FORMAT): EventText | null {
  const run = (text: string, tone: Tone, alarm?: string): EventText => ({
    subject: 'run',
    about: 'run',
    text,
    tone,
    ...(alarm ? { alarm } : {}),
  });
  const build = (text: string, tone: Tone): EventText => ({ subject: 'build', about: 'build', text, tone });
  const machine = (name: string, text: string, tone: Tone, alarm?: string): EventText => ({
    subject: name,
    about: 'machine',
    text,
    tone,
    ...(alarm ? { alarm } : {}),
  });
  switch (event.type) {
    case 'run.started': {
      const count = event.steps.reduce((sum, step) => sum + step.length, 0);
      return run(
        `started: ${KIND[event.kind]} of ${plural(count, 'machine')} in ${plural(event.steps.length, 'step')}`,
        'info',
      );
    }
    case 'step.started':
      return { subject: `step ${event.step}`, about: 'step', text: event.machines.join(', '), tone: 'info' };
    case 'machine.waiting':
      if (event.reason === 'delay')
        return machine(event.machine, `waiting ${event.seconds} s (rebootDelay)`, 'info');
      if (event.reason === 'confirmation') return machine(event.machine, 'waiting for confirmation', 'info');
      if (event.reason === 'window')
        return machine(
          event.machine,
          `waits for its window, opens ${format.time(event.opensAt)}${format.aside(event.why)}`,
          'info',
        );
      return machine(
        event.machine,
        `waits for approval: ${event.approvals.length} of ${event.required}` +
          `${event.approvals.length > 0 ? ` (${names(event.approvals)})` : ''}, expires ${format.time(event.expiresAt)}`,
        'warn',
      );
    case 'machine.window-forced':
      return machine(event.machine, `starts outside its window: Start now by ${event.by}`, 'warn');
    case 'machine.confirmed':
      return machine(
        event.machine,
        event.approvals.length > 0 ? `approved by ${names(event.approvals)}` : 'confirmed',
        'info',
      );
    case 'machine.rebooting':
      return machine(event.machine, `rebooting (boot ${shortId(event.bootId)})`, 'info');
    case 'machine.down':
      return machine(event.machine, 'down', 'info');
    case 'machine.up':
      return machine(
        event.machine,
        `up again with boot ${shortId(event.bootId)}, down for ${format.duration(event.downMs)}`,
        'info',
      );
    case 'machine.health': {
      const checks = event.checks
        .map((check) =>
          check.ok ? `${check.name} ok (${check.latencyMs} ms)` : `${check.name} FAILED (${check.error})`,
        )
        .join(', ');
      const text = checks || (event.ok ? 'no checks; SSH answers' : 'SSH does not answer');
      return machine(
        event.machine,
        `health ${event.ok ? 'ok' : 'not yet'}: ${text}`,
        event.ok ? 'good' : 'warn',
      );
    }
    case 'machine.succeeded':
      return machine(event.machine, succeededText(event, format), 'good');
    case 'machine.failed':
      return machine(event.machine, `failed at ${event.phase}: ${event.reason}`, 'bad', 'failed');
    case 'machine.skipped':
      return machine(event.machine, `skipped: ${event.reason}`, 'dim');
    case 'machine.power':
      return machine(event.machine, powerEventText(event), event.ok ? 'warn' : 'bad');
    case 'deploy.building':
      return build(
        `started: ${plural(event.machines.length, 'system')} (${event.machines.join(', ')})`,
        'info',
      );
    case 'deploy.built':
      return build(`succeeded: ${plural(Object.keys(event.systems).length, 'system')}`, 'good');
    case 'machine.copying':
      return machine(event.machine, copyingText(event), 'info');
    case 'machine.activating':
      return machine(
        event.machine,
        event.action === 'boot'
          ? `committing: ${storeName(event.system)} becomes the boot default (boot)`
          : `activating (${event.action}) ${storeName(event.system)}`,
        'info',
      );
    case 'machine.rolling-back': {
      const generation = event.generation == null ? '' : ` (profile generation ${event.generation})`;
      const to = event.to ? storeName(event.to) : 'the previous system';
      return machine(event.machine, `rolling back to ${to}${generation}`, 'warn');
    }
    case 'machine.rolled-back': {
      const verified = event.verified ? describeRollbackCheck(event.verified, storeName) : null;
      if (event.ok)
        return machine(
          event.machine,
          `rolled back: ${verified ?? 'the previous system runs and is healthy'}`,
          'warn',
        );
      return machine(
        event.machine,
        `rollback failed: ${event.reason}${verified ? ` (read back: ${verified})` : ''}`,
        'bad',
        'rollback failed',
      );
    }
    case 'machine.needs-reboot':
      return machine(event.machine, `needs a reboot (${event.changed.join(', ')} changed)`, 'warn');
    case 'step.finished':
      return null;
    case 'run.halted':
      // A machine's failure has its own line (machine.failed) just before, with the reason; a
      // build's has none.
      return run(
        event.machine === null
          ? `halted: ${failedWhere(event)}: ${event.reason}`
          : `halted: ${format.machine(event.machine)} failed at ${event.phase}`,
        'bad',
        'halted',
      );
    case 'run.decided':
      return run(`decided: ${event.decision} (by ${event.by})`, 'info');
    case 'run.cancelling':
      return run(`cancelling (${event.reason}): ${cancellingText(event)}`, 'warn');
    case 'run.finished':
      return run(finishedText(event, format), FINISHED_TONE[event.status]);
  }
}

const FINISHED_TONE: Record<Extract<RunEvent, { type: 'run.finished' }>['status'], Tone> = {
  succeeded: 'good',
  cancelled: 'warn',
  aborted: 'bad',
  failed: 'bad',
};

/**
 * A machine done: for a reboot, how long it was down and how long from the reboot command until
 * it was healthy, the wait for approval apart (the rebootDelay is in neither); else the whole time.
 */
/** At the machine's turn: copying now, or copied (or still copying) since before its turn. */
function copyingText(event: Extract<RunEvent, { type: 'machine.copying' }>): string {
  const system = storeName(event.system);
  if (!event.ahead || !event.copyStartedAt) return `copying ${system}`;
  const began = Date.parse(event.copyStartedAt);
  if (!event.copiedAt)
    return `copying ${system} (begun ${spokenDuration(Date.parse(event.at) - began)} before its turn)`;
  const copied = Date.parse(event.copiedAt);
  return `copied ${system} ahead of its turn (in ${spokenDuration(copied - began)}, ${spokenDuration(Date.parse(event.at) - copied)} before)`;
}

function succeededText(event: Extract<RunEvent, { type: 'machine.succeeded' }>, format: TextFormat): string {
  const times = event.what === 'rebooted' ? rebootTimesText(event, format.duration) : '';
  const waited = known(event.approvalWaitMs)
    ? format.aside(`approved after ${format.duration(event.approvalWaitMs)}`)
    : '';
  if (times) return `rebooted: ${times}${waited}`;
  if (event.what === 'powered') return `power action done in ${format.duration(event.durationMs)}${waited}`;
  return `${event.what} and healthy in ${format.duration(event.durationMs)}${waited}`;
}

/**
 * A machine's reboot in the times that matter, the waits before it apart: how long it was down,
 * how long from the reboot command until it was healthy. Empty when neither is known.
 */
export function rebootTimesText(
  times: { readonly downMs?: number | null; readonly healthyMs?: number | null },
  duration: (ms: number) => string = spokenDuration,
): string {
  return [
    ...(known(times.downMs) ? [`down ${duration(times.downMs)}`] : []),
    ...(known(times.healthyMs) ? [`healthy ${duration(times.healthyMs)} after the reboot command`] : []),
  ].join(', ');
}

/**
 * How a run ended: its status, why (who cancelled or aborted it), its first failure and what
 * became of the machines. A run that failed for no other reason than its failure reads
 * "failed at web (health): …" in columns and "failed: web failed at health: …" as a sentence;
 * tests pin both forms today
 * (test/integration/reboot-failures.test.ts, test/unit/discord-thread-lines.test.ts).
 */
function finishedText(event: Extract<RunEvent, { type: 'run.finished' }>, format: TextFormat): string {
  const { status, failure } = event;
  const outcomes = outcomeSummary(event);
  const reason = event.reason ?? '';
  const why =
    reason === ''
      ? ''
      : format.layout === 'sentence' && reason.startsWith(`${status} `)
        ? reason.slice(status.length) // "cancelled by alice" reads "run cancelled by alice"
        : `: ${reason}`;
  if (failure === null) return `${status}${why}${outcomes}`;
  if (status === 'failed' && why === '' && format.layout === 'columns') {
    const where = failure.machine === null ? theBuild(failure) : `${failure.machine} (${failure.phase})`;
    return `failed at ${where}: ${failure.reason}${outcomes}`;
  }
  const where =
    failure.machine === null
      ? failedWhere(failure)
      : `${format.machine(failure.machine)} failed at ${failure.phase}`;
  return `${status}${why}${why ? ';' : ':'} ${where}: ${failure.reason}${outcomes}`;
}

export interface FailureLike {
  readonly machine: string | null;
  readonly phase: string;
  readonly machines?: readonly string[];
}

/** "db failed at health", or "the build (web, db) failed" when no single machine failed. */
export function failedWhere(failure: FailureLike): string {
  return failure.machine === null
    ? `${theBuild(failure)} failed`
    : `${failure.machine} failed at ${failure.phase}`;
}

/** "the build", naming the machines whose systems did not build when they are known. */
export function theBuild(failure: FailureLike): string {
  const machines = failure.machines ?? [];
  return `the ${failure.phase}${machines.length > 0 ? ` (${machines.join(', ')})` : ''}`;
}

/** The order outcomes are listed in. */
const OUTCOME_ORDER: readonly MachineOutcome[] = [
  'rebooted',
  'deployed',
  'powered',
  'rolled back',
  'healthy',
  'unhealthy',
  'failed',
  'unknown',
  'not built',
  'skipped',
  'not touched',
];

/**
 * What became of the machines, e.g. "; rebooted: app; not touched: media". A run that succeeded
 * says only what it skipped; the machine named by the failure is not named again as failed.
 */
export function outcomeSummary(event: Extract<RunEvent, { type: 'run.finished' }>): string {
  // Events written before `outcomes` existed carry `pending` only.
  const outcomes =
    event.outcomes ?? event.pending.map((machine) => ({ machine, outcome: 'not touched' as const }));
  const groups = OUTCOME_ORDER.flatMap((outcome) => {
    if (event.status === 'succeeded' && outcome !== 'skipped') return [];
    const machines = outcomes.filter((entry) => entry.outcome === outcome).map((entry) => entry.machine);
    if (machines.length === 0) return [];
    if (outcome === 'failed' && machines.length === 1 && machines[0] === event.failure?.machine) return [];
    if (outcome === 'not built' && event.failure?.machines) return []; // named by the failure
    return [`${outcome}: ${machines.join(', ')}`];
  });
  return groups.map((group) => `; ${group}`).join('');
}

/** "nothing new starts; db is seen to the end first" (run.cancelling). */
function cancellingText(event: Extract<RunEvent, { type: 'run.cancelling' }>): string {
  return (
    `nothing new starts; ${event.finishing.join(', ')} ` +
    `${event.finishing.length === 1 ? 'is' : 'are'} seen to the end first`
  );
}
