import type { MachineOutcome, Phase } from './run-events.js';
import { type MachineProgress, newProgress, type RunKind } from './run-state.js';

/**
 * What each machine phase of a kind is, in one place (as colmena's Goal keeps display and
 * behaviour together): how a failure in it is named, whether it is final, where a retry of a
 * machine that failed there resumes and what that retry clears, and how renderers show it.
 * Replaces the hand-kept switches of phase names, retry points, resets and active texts.
 */
export interface PhaseInfo {
  /** The failure phase of a machine that fails here ('reboot command'). */
  readonly label: Phase;
  /** The machine is done: succeeded, failed, skipped, or a health result. */
  readonly terminal?: 'good' | 'bad' | 'skipped';
  /** A retry of a machine whose failure has this label resumes at this phase... */
  readonly retryFrom?: string;
  /** ...after clearing this (error and finishedAt are always cleared). */
  readonly reset?: (progress: MachineProgress, now: number) => MachineProgress;
  /** Failing health checks are named in the halt (health, stability). */
  readonly showsChecks?: boolean;
  /** How renderers show a machine here: an icon and a few words ('coming back'). */
  readonly icon: string;
  readonly text: string;
  /** The mark in `lab status`' list of machines. */
  readonly mark: string;
}

export interface PhaseTable {
  readonly kind: RunKind;
  readonly phases: Readonly<Record<string, PhaseInfo>>;
  /** Whether the machine was (or may have been) changed: from then on a cancel lets it finish. */
  readonly changed: (progress: MachineProgress) => boolean;
  /** What became of the machine when its run ended (see MachineOutcome). */
  readonly outcome: (progress: MachineProgress) => MachineOutcome;
  /** How a bad terminal phase is told: where it failed and why, or the reason alone (health results). */
  readonly failureText: 'failure' | 'reason';
  /** Renderers show the reboot's own times (down, healthy after the command) on success. */
  readonly showsRebootTimes?: boolean;
}

const PENDING = { icon: '▫️', text: 'pending', mark: '·' } as const;
const SUCCEEDED = { terminal: 'good', icon: '✅', mark: '✓' } as const;
const FAILED = { terminal: 'bad', icon: '❌', text: 'failed', mark: '✗' } as const;
const SKIPPED = { terminal: 'skipped', icon: '⏭️', text: 'skipped', mark: '-' } as const;
const ACTIVE = { mark: '…' } as const;

/** Whether the machine's reboot command was (or may have been) sent: from then on it is not "not touched". */
const rebootSent = (progress: MachineProgress): boolean =>
  (progress.rebootSentAt ?? null) !== null ||
  (progress.phase === 'rebooting' && (progress.bootIdBefore ?? null) !== null) ||
  progress.phase === 'coming-back' ||
  progress.phase === 'health' ||
  progress.phase === 'stability';

export const rebootPhases: PhaseTable = {
  kind: 'reboot',
  phases: {
    pending: { ...PENDING, label: 'delay' },
    delay: { ...ACTIVE, label: 'delay', retryFrom: 'delay', icon: '⏳', text: 'waits its rebootDelay' },
    confirmation: {
      ...ACTIVE,
      label: 'confirmation',
      retryFrom: 'confirmation',
      icon: '⏳',
      text: 'waits for approval',
    },
    rebooting: {
      ...ACTIVE,
      label: 'reboot command',
      retryFrom: 'rebooting',
      // A fresh boot id is read first.
      reset: (progress) => ({ ...progress, bootIdBefore: null, downAt: null, rebootSentAt: null }),
      icon: '🔄',
      text: 'rebooting',
    },
    'coming-back': {
      ...ACTIVE,
      label: 'coming back',
      retryFrom: 'coming-back',
      // A new deadline.
      reset: (progress, now) => ({ ...progress, rebootSentAt: now }),
      icon: '🔄',
      text: 'coming back',
    },
    health: {
      ...ACTIVE,
      label: 'health',
      retryFrom: 'health',
      showsChecks: true,
      icon: '🩺',
      text: 'health checks',
    },
    stability: {
      ...ACTIVE,
      label: 'stability',
      retryFrom: 'stability',
      showsChecks: true,
      icon: '🩺',
      text: 'stability window',
    },
    succeeded: { ...SUCCEEDED, label: 'health', text: 'rebooted' },
    failed: { ...FAILED, label: 'health' },
    skipped: { ...SKIPPED, label: 'health' },
  },
  changed: rebootSent,
  outcome: (progress) => {
    if (progress.phase === 'succeeded') return 'rebooted';
    if (progress.phase === 'failed') return 'failed';
    if (progress.phase === 'skipped') return 'skipped';
    return rebootSent(progress) ? 'unknown' : 'not touched';
  },
  failureText: 'failure',
  showsRebootTimes: true,
};

/** Whether an activation (or the profile) was started on the machine: from then on it is changed. */
const activationStarted = (progress: MachineProgress): boolean =>
  progress.phase === 'health' ||
  progress.phase === 'committing' ||
  (progress.phase === 'activating' && (progress.activation != null || progress.profileSet === true));

/** A deploy retry starts the machine again from the start (it was rolled back), keeping its approval. */
const deployRetry = {
  retryFrom: 'pending',
  reset: (progress: MachineProgress): MachineProgress => ({
    ...newProgress('deploy'),
    approval: progress.approval,
  }),
};

export const deployPhases: PhaseTable = {
  kind: 'deploy',
  phases: {
    pending: { ...PENDING, ...deployRetry, label: 'build' },
    copying: { ...ACTIVE, ...deployRetry, label: 'copy', icon: '📦', text: 'copying its system' },
    activating: { ...ACTIVE, ...deployRetry, label: 'activation', icon: '🔄', text: 'activating' },
    health: {
      ...ACTIVE,
      ...deployRetry,
      label: 'health',
      showsChecks: true,
      icon: '🩺',
      text: 'health checks',
    },
    committing: { ...ACTIVE, ...deployRetry, label: 'commit', icon: '🔄', text: 'committing' },
    succeeded: { ...SUCCEEDED, label: 'commit', text: 'deployed' },
    failed: { ...FAILED, label: 'activation' },
    skipped: { ...SKIPPED, label: 'activation' },
  },
  changed: activationStarted,
  outcome: (progress) => {
    if (progress.phase === 'succeeded') return 'deployed';
    if (progress.phase === 'failed') return progress.rollback?.ok ? 'rolled back' : 'failed';
    if (progress.phase === 'skipped') return 'skipped';
    if (activationStarted(progress)) return 'unknown';
    return progress.error?.phase === 'build' ? 'not built' : 'not touched';
  },
  failureText: 'failure',
};

export const healthPhases: PhaseTable = {
  kind: 'health',
  phases: {
    pending: { ...PENDING, label: 'health' },
    healthy: { ...SUCCEEDED, label: 'health', text: 'healthy' },
    unhealthy: { ...FAILED, label: 'health', text: 'unhealthy' },
    // Not reached by health runs; kept so that every table has the engine's three ends.
    succeeded: { ...SUCCEEDED, label: 'health', text: 'healthy' },
    failed: { ...FAILED, label: 'health' },
    skipped: { ...SKIPPED, label: 'health' },
  },
  changed: () => false,
  outcome: (progress) => {
    if (progress.phase === 'healthy') return 'healthy';
    if (progress.phase === 'unhealthy') return 'unhealthy';
    if (progress.phase === 'skipped') return 'skipped';
    return 'not touched';
  },
  failureText: 'reason',
};

/** Whether the power action was (or may have been) begun. */
const powerBegun = (progress: MachineProgress): boolean => (progress.powerStartedAt ?? null) !== null;

/**
 * A power run's one machine: pending → confirmation (off and cycle, as a reboot's) → power (the
 * action, begun once) → succeeded. Nothing is retried: a power action is not repeated.
 */
export const powerPhases: PhaseTable = {
  kind: 'power',
  phases: {
    pending: { ...PENDING, label: 'confirmation' },
    confirmation: { ...ACTIVE, label: 'confirmation', icon: '⏳', text: 'waits for approval' },
    power: { ...ACTIVE, label: 'power', icon: '🔌', text: 'power action' },
    succeeded: { ...SUCCEEDED, label: 'power', text: 'power action done' },
    failed: { ...FAILED, label: 'power' },
    skipped: { ...SKIPPED, label: 'power' },
  },
  changed: powerBegun,
  outcome: (progress) => {
    if (progress.phase === 'succeeded') return 'powered';
    if (progress.phase === 'failed') return 'failed';
    if (progress.phase === 'skipped') return 'skipped';
    return powerBegun(progress) ? 'unknown' : 'not touched';
  },
  failureText: 'failure',
};

const tables: Readonly<Record<RunKind, PhaseTable>> = {
  reboot: rebootPhases,
  deploy: deployPhases,
  health: healthPhases,
  power: powerPhases,
};

/** The phase table of a kind of run. */
export const phaseTable = (kind: RunKind): PhaseTable => tables[kind];

/** A phase of the table; an unknown one (from a newer version) reads as active. */
export function phaseInfo(table: PhaseTable, phase: string): PhaseInfo {
  return table.phases[phase] ?? { label: 'health', icon: '🔄', text: phase, mark: '…' };
}

/** Whether a machine is done in its run (succeeded, failed, skipped, a health result). */
export const isMachineDone = (table: PhaseTable, phase: string): boolean =>
  phaseInfo(table, phase).terminal !== undefined;

/** Where a machine that failed with this label resumes on retry, and what it clears. */
export function retryOf(
  table: PhaseTable,
  label: Phase,
): { from: string; reset: (progress: MachineProgress, now: number) => MachineProgress } {
  const entry = Object.values(table.phases).find((info) => info.label === label && info.retryFrom);
  return {
    from: entry?.retryFrom ?? 'pending',
    reset: entry?.reset ?? ((progress) => progress),
  };
}
