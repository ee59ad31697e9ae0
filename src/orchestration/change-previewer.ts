import { buildSystems } from '../domain/deploy/build-systems.js';
import type { MachinePreview } from '../domain/deploy/change-preview.js';
import { dryRun } from '../domain/deploy/dry-run.js';
import { previewDigest, previewedSystems } from '../domain/deploy/preview-digest.js';
import { SshDeployHost } from '../domain/deploy/ssh-deploy-host.js';
import type { DeployStep } from '../domain/planner/deploy-steps.js';
import type { NixSettings } from '../transport/process/nix.js';
import type { SshCredentials } from '../transport/ssh/ssh-connection.js';

/** A deploy plan's change preview, bound to the exact plan and store paths it was made of. */
export interface DeployPreview {
  /** One per machine, in plan order. */
  readonly previews: readonly MachinePreview[];
  /** previewDigest(steps, the previewed store paths): what an approval is bound to. */
  readonly digest: string;
}

/** Makes a deploy plan's change preview (builds, copies, diffs; activates nothing). */
export type ChangePreviewer = (flake: string, steps: readonly DeployStep[]) => Promise<DeployPreview>;

/**
 * The previewer of a process that has nix and SSH (`lab serve`, a worker): builds the systems
 * here, copies each into its machine's store, and diffs and dry-activates there, over lab's own
 * SSH connections (closed afterwards).
 */
export function sshChangePreviewer(nix: NixSettings, credentials: SshCredentials): ChangePreviewer {
  return async (flake, steps) => {
    const machines = steps.flatMap((step) => step.machines);
    const host = new SshDeployHost(credentials, nix);
    try {
      const plan = await dryRun(nix, flake, machines, host, {
        preview: {
          host,
          build: (chosen) =>
            buildSystems(
              nix,
              flake,
              chosen.map((machine) => machine.name),
            ),
        },
      });
      const previews = machines.map((machine) => plan.machines.get(machine.name)?.preview as MachinePreview);
      return { previews, digest: previewDigest(steps, previewedSystems(previews)) };
    } finally {
      await host.close();
    }
  };
}
