import type { MachinePreview } from '../../domain/deploy/change-preview.js';
import type { DryRunPlan } from '../../domain/deploy/dry-run.js';
import type { DeployStep } from '../../domain/planner/deploy-steps.js';
import { previewLines } from '../../orchestration/change-preview-text.js';
import { storeName } from '../../util/store-path.js';
import type { Style } from './style.js';

const shortName = (path: string | null): string => (path ? storeName(path) : 'unknown');

/** The stable `lab deploy --dry-run --json` document. */
export function deployPlanJson(steps: readonly DeployStep[], plan: DryRunPlan) {
  return {
    dryRun: true,
    steps: steps.map((step) => ({
      rebootOrder: step.rebootOrder,
      strategy: step.strategy,
      machines: step.machines.map((machine) => {
        const entry = plan.machines.get(machine.name);
        return {
          name: machine.name,
          system: entry?.system ?? null,
          current: entry?.current ?? null,
          changes: entry ? entry.system !== entry.current : null,
          reachable: entry?.reachable ?? false,
          error: entry?.error ?? null,
          needsReboot: entry?.needsReboot ?? null,
          bootChanges: [...(entry?.bootChanges ?? [])],
          preview: entry?.preview ? previewJson(entry.preview) : null,
        };
      }),
    })),
    toBuild: [...plan.toBuild],
    needsReboot: rebootsNeeded(steps, plan),
  };
}

/** A machine's preview in `--json`: the MachinePreview without its name (the entry has it). */
function previewJson(preview: MachinePreview) {
  const { machine: _name, ...rest } = preview;
  return rest;
}

/** The machines whose new system's kernel, initrd or modules differ from what they booted, in plan order. */
const rebootsNeeded = (steps: readonly DeployStep[], plan: DryRunPlan): string[] =>
  steps
    .flatMap((step) => step.machines.map((machine) => machine.name))
    .filter((name) => plan.machines.get(name)?.needsReboot === true);

export function deployPlanText(
  steps: readonly DeployStep[],
  plan: DryRunPlan,
  flake: string,
  style: Style,
): string[] {
  const previewed = [...plan.machines.values()].some((entry) => entry.preview !== null);
  const what = previewed
    ? 'dry run: built and copied to the machines, nothing activated'
    : 'dry run: nothing is built, copied or activated';
  const lines = [style.bold(`Deploy plan for ${flake} (${what})`), ''];
  steps.forEach((step, index) => {
    const number = `${index + 1}.`;
    step.machines.forEach((machine, position) => {
      const entry = plan.machines.get(machine.name);
      const prefix = position === 0 ? number : ' '.repeat(number.length);
      const what = !entry
        ? 'unknown'
        : !entry.reachable
          ? style.red(`unreachable: ${entry.error}`)
          : entry.system === entry.current
            ? style.dim(`already runs ${shortName(entry.system)}`)
            : `${shortName(entry.current)} → ${shortName(entry.system)}`;
      const reboot = entry?.needsReboot
        ? style.yellow(`; needs a reboot (${entry.bootChanges.join(', ')})`)
        : '';
      lines.push(
        `  ${prefix} ${machine.name} (${step.strategy}, rebootOrder ${step.rebootOrder}): ${what}${reboot}`,
      );
      if (entry?.preview && entry.system !== entry.current) {
        const indent = ' '.repeat(number.length + 5);
        for (const line of previewLines(entry.preview))
          lines.push(`${indent}${/^(did not|could not)/.test(line) ? style.red(line) : line}`);
      }
    });
  });
  const reboots = rebootsNeeded(steps, plan);
  const unknown = steps
    .flatMap((step) => step.machines.map((machine) => machine.name))
    .filter((name) => plan.machines.get(name)?.needsReboot == null);
  lines.push(
    '',
    plan.toBuild.length === 0
      ? 'Nothing to build: every system is in the local store.'
      : `Would build ${plan.toBuild.length} ${plan.toBuild.length === 1 ? 'derivation' : 'derivations'}.`,
    reboots.length === 0
      ? 'No machine would need a reboot (kernel, initrd and modules as booted).'
      : `Would need a reboot after the deploy: ${reboots.join(', ')} (kernel, initrd or modules differ from what they booted).`,
    ...(unknown.length > 0
      ? [`Whether a reboot would be needed is unknown for: ${unknown.join(', ')}.`]
      : []),
  );
  return lines;
}
