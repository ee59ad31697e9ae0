import { systemPaths } from '../domain/deploy/build-systems.js';
import { type MachinePreview, previewMachine } from '../domain/deploy/change-preview.js';
import { previewDigest } from '../domain/deploy/preview-digest.js';
import type { PreviewHost } from '../domain/deploy/preview-host.js';
import type { Machine } from '../domain/inventory/schema.js';
import type { DeployStep } from '../domain/planner/deploy-steps.js';
import type { NixSettings } from '../transport/process/nix.js';
import type { RunState } from './run-state.js';

/**
 * The change preview a deploy's approval request shows, and what the approval is bound to: the
 * digest of the run's plan and the exact store paths it deploys (previewDigest). An Approve is
 * void when the flake now evaluates to other systems (RunControl.approve checks).
 */
export interface ApprovalPreview {
  /** previewDigest of the run's steps and systems. */
  readonly digest: string;
  /** What deploying changes on the machine; null when the run has no system for it. */
  readonly preview: MachinePreview | null;
}

/** The run's steps as the planner made them (what previewDigest reads). */
export function runDeploySteps(state: Pick<RunState, 'steps' | 'machines'>): DeployStep[] {
  return state.steps.map((step) => {
    const machines = step.machines.map((name) => state.machines[name] as Machine);
    return {
      strategy: step.strategy ?? machines[0]?.deployStrategy ?? 'rolling',
      rebootOrder: machines[0]?.rebootOrder ?? 0,
      machines,
    };
  });
}

/** The digest an approval of this run is bound to, for these systems (machine → store path). */
export const runPreviewDigest = (
  state: Pick<RunState, 'steps' | 'machines'>,
  systems: ReadonlyMap<string, string>,
): string => previewDigest(runDeploySteps(state), systems);

/** The run's systems (machine → store path). */
export const runSystems = (state: Pick<RunState, 'systems'>): Map<string, string> =>
  new Map(Object.entries(state.systems ?? {}));

/**
 * The preview of one machine of a deploy run, made in the worker when its approval is first asked
 * for: the run's new system copied into the machine's store (which changes nothing that runs),
 * diffed and dry-activated there. Its kernel, initrd and modules come from one evaluation of the
 * flake, used only while that still gives the run's system (else "reboot needed" is unknown).
 */
export async function makeApprovalPreview(
  host: PreviewHost,
  nix: NixSettings,
  state: RunState,
  machine: Machine,
): Promise<ApprovalPreview> {
  const systems = runSystems(state);
  const digest = runPreviewDigest(state, systems);
  const system = systems.get(machine.name);
  if (!system) return { digest, preview: null };
  const evaluated = await systemPaths(nix, state.flake, [machine.name])
    .then((paths) => paths.get(machine.name) ?? null)
    .catch(() => null);
  const boot = evaluated?.outPath === system ? evaluated.boot : null;
  return { digest, preview: await previewMachine(host, machine, { system, boot }) };
}
