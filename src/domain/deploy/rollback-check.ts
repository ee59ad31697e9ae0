import type { BootLoader } from '../hosts/boot-default.js';
import type { MachineSystems } from './deploy-host.js';

/** What lab read back on a machine after rolling it back: the basis of "rolled back". */
export interface RollbackCheck {
  /** The system the machine ran before the deploy: what it was rolled back to. */
  readonly system: string;
  /** /run/current-system now. */
  readonly current: string | null;
  /** The system profile now: its store path and generation. */
  readonly profile: string | null;
  readonly generation: number | null;
  /** The boot loader's default now; null when it could not be read (`bootUnknown` says why). */
  readonly bootDefault: string | null;
  readonly bootLoader: BootLoader | null;
  readonly bootUnknown: string | null;
  /** Whether its health checks passed. */
  readonly healthy: boolean;
}

const name = (path: string | null): string => (path === null ? 'nothing' : path);
const generationName = (generation: number | null, path: string | null): string =>
  generation === null ? name(path) : `generation ${generation} (${name(path)})`;

/**
 * How the machine now differs from what it was before the deploy — /run/current-system, the
 * profile (generation and store path) and the boot default — in words, empty when everything lab
 * could read agrees. A boot default lab cannot read is not a disagreement: it is reported as unknown.
 */
export function rollbackDisagreements(before: MachineSystems, now: MachineSystems): string[] {
  const problems: string[] = [];
  if (now.current !== before.current)
    problems.push(`it runs ${name(now.current)}, not ${name(before.current)}`);
  const generationBefore = before.generation ?? now.generation;
  if (before.profile !== null && (now.profile !== before.profile || now.generation !== generationBefore))
    problems.push(
      `its profile is ${generationName(now.generation, now.profile)}, not ${generationName(generationBefore, before.profile)}`,
    );
  // What it booted by default before; NixOS's boot default is the profile's system unless
  // someone activated another with `boot`.
  // (A run checkpointed by an older lab recorded no boot default.)
  const bootBefore = before.bootDefault?.system ?? before.profile ?? before.current;
  const bootNow = now.bootDefault.system;
  if (bootNow !== null && bootNow !== bootBefore)
    problems.push(`its boot default (${now.bootDefault.loader}) is ${bootNow}, not ${name(bootBefore)}`);
  return problems;
}

/** The check as recorded and reported. */
export function rollbackCheck(before: MachineSystems, now: MachineSystems, healthy: boolean): RollbackCheck {
  return {
    system: before.current ?? '',
    current: now.current,
    profile: now.profile,
    generation: now.generation,
    bootDefault: now.bootDefault.system,
    bootLoader: now.bootDefault.loader,
    bootUnknown: now.bootDefault.unknown,
    healthy,
  };
}

/**
 * What was verified, in words: "runs X; its profile, generation 4, points at it; its boot default
 * (systemd-boot) is it; healthy". `shorten` names store paths (e.g. without their hash).
 */
export function describeRollbackCheck(
  check: RollbackCheck,
  shorten: (path: string) => string = (path) => path,
): string {
  const show = (path: string | null) => (path === null ? 'nothing' : shorten(path));
  const boot =
    check.bootDefault !== null
      ? `its boot default (${check.bootLoader}) is ${check.bootDefault === check.system ? 'it' : show(check.bootDefault)}`
      : `its boot default is unknown (${check.bootUnknown})`;
  const generation = check.generation === null ? 'no generation' : `generation ${check.generation}`;
  const profile =
    check.profile === check.system
      ? `its profile, ${generation}, points at it`
      : `its profile is ${generation} (${show(check.profile)})`;
  return `runs ${show(check.current)}; ${profile}; ${boot}; ${check.healthy ? 'healthy' : 'unhealthy'}`;
}
