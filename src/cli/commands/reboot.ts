import type { Command } from 'commander';
import { loadInventory } from '../../domain/inventory/load-inventory.js';
import { type Plan, planSequence } from '../../domain/planner/plan.js';
import { LocalPowerControl } from '../../domain/power/local-power-control.js';
import { machinesNotNeedingReboot } from '../../domain/reboot/not-needing-reboot.js';
import { SshRebootHost } from '../../domain/reboot/ssh-reboot-host.js';
import { UsageError } from '../../errors.js';
import { globalMaintenanceWindow } from '../../orchestration/maintenance-window-setting.js';
import { rebootEngine } from '../../orchestration/procedures/reboot.js';
import type { ApprovalPort } from '../../orchestration/run-flow.js';
import {
  createRebootRun,
  defaultRebootSettings,
  type RebootSettings,
  skipMachines,
} from '../../orchestration/run-state.js';
import { runWindowSettings } from '../../orchestration/window-gate.js';
import { loadSshCredentials } from '../../transport/ssh/ssh-credentials.js';
import { cliActor, submitAndFollow } from '../queue-support.js';
import { sequenceText } from '../render/sequence.js';
import {
  eventPrinter,
  requireConfirmable,
  runExitCode,
  terminalPrompt,
  withInterrupt,
} from '../run-support.js';
import { type FlakeOptions, flakeSettings, positiveInteger, wholeSeconds } from '../settings.js';
import {
  type Context,
  reportSkipped,
  type SkipBrokenOptions,
  type SshOptions,
  type WindowOptions,
  windowRequest,
  withFlakeOptions,
  withSkipBrokenOption,
  withSshOptions,
  withWindowOptions,
} from './shared.js';

interface RebootOptions extends FlakeOptions, SshOptions, SkipBrokenOptions, WindowOptions {
  all?: boolean;
  parallel: number;
  yes?: boolean;
  onlyNeeded?: boolean;
  json?: boolean;
  rebootTimeout: number;
  healthTimeout: number;
  stability: number;
  rebootCommand?: string;
  queue?: boolean;
  as?: string;
}

export function rebootCommand(program: Command, context: Context): void {
  withWindowOptions(withSkipBrokenOption(withSshOptions(withFlakeOptions(program.command('reboot')))))
    .description(
      'reboot machines in the planned order, each back with a new boot id and healthy before the next',
    )
    .argument('[targets...]', 'machine names or @group')
    .option('-a, --all', 'reboot every machine')
    .option(
      '-p, --parallel <n>',
      'machines of one stage that may reboot together',
      positiveInteger('--parallel'),
      1,
    )
    .option('-y, --yes', 'do not ask before rebooting high and critical machines')
    .option(
      '--only-needed',
      'only machines whose booted kernel, initrd or modules differ from the current system',
    )
    .option(
      '--reboot-timeout <s>',
      'seconds a machine may take to come back',
      wholeSeconds('--reboot-timeout'),
      defaultRebootSettings.rebootTimeout,
    )
    .option(
      '--health-timeout <s>',
      'seconds its checks may take to turn green',
      wholeSeconds('--health-timeout'),
      defaultRebootSettings.healthTimeout,
    )
    .option('--stability <s>', 'seconds the checks must then stay green', wholeSeconds('--stability'), 0)
    .option('--reboot-command <command>', "command that reboots a machine (default 'systemctl reboot')")
    .option('--json', 'print events as JSON lines (stable format)')
    .option('-q, --queue', 'enqueue the run for `lab worker`s (durable, approvals) and follow it')
    .option('--as <name>', 'with --queue: who you are, for the record (default: $LAB_USER or user@host)')
    .action((targets: string[], options: RebootOptions) => reboot(targets, options, context));
}

async function reboot(targets: string[], options: RebootOptions, context: Context): Promise<void> {
  if (targets.length === 0 && !options.all) {
    throw new UsageError('name the machines to reboot (names or @group), or pass --all');
  }
  const settings = flakeSettings(options, context.env);
  const rebootCommandWords = options.rebootCommand?.trim().split(/\s+/).filter(Boolean);
  const windows = windowRequest(options);
  if (options.queue) {
    if (options.yes)
      throw new UsageError('--yes cannot skip the approvals of a queued run (see LAB_APPROVALS_*)');
    await submitAndFollow(
      context,
      {
        kind: 'reboot',
        flake: settings.flake,
        targets: options.all ? [] : targets,
        parallel: options.parallel,
        onlyNeeded: options.onlyNeeded === true,
        skipBroken: options.skipBroken === true,
        rebootTimeout: options.rebootTimeout,
        healthTimeout: options.healthTimeout,
        stabilityWindow: options.stability,
        ...(rebootCommandWords?.length ? { rebootCommand: rebootCommandWords } : {}),
        ...windows,
        requestedBy: cliActor(context.env, options.as),
        source: 'cli',
      },
      options.json === true,
    );
    return;
  }
  const inventory = await loadInventory(settings);
  const plan = planSequence(inventory, {
    targets: options.all ? [] : targets,
    parallel: options.parallel,
    skipBroken: options.skipBroken === true,
  });
  const prompt = terminalPrompt(context.io);
  const confirmLevels = options.yes ? [] : defaultRebootSettings.confirmLevels;
  requireConfirmable(
    plan.steps
      .flatMap((step) => step.machines)
      .filter((machine) => confirmLevels.includes(machine.criticalityLevel)),
    prompt,
  );
  // The plan's text lists the skipped hosts; with --json they are told on stderr.
  if (!options.json) context.output.lines([...sequenceText(plan, inventory, context.output.style), '']);
  else reportSkipped(context, plan.skipped);
  const credentials = await loadSshCredentials(
    { keyPath: options.sshKey, knownHostsPath: options.knownHosts },
    context.env,
  );
  const host = new SshRebootHost(credentials);
  try {
    const status = await runRebootPlan(plan, host, context, {
      flake: settings.flake,
      json: options.json === true,
      onlyNeeded: options.onlyNeeded === true,
      settings: {
        rebootTimeout: options.rebootTimeout,
        healthTimeout: options.healthTimeout,
        stabilityWindow: options.stability,
        ...(rebootCommandWords?.length ? { rebootCommand: rebootCommandWords } : {}),
        confirmLevels,
        ...runWindowSettings(windows, globalMaintenanceWindow(context.env)),
      },
    });
    context.setExitCode(runExitCode(status));
  } finally {
    await host.close();
  }
}

/** Carries out a reboot plan in this process, printing its events; returns the run's status. */
export async function runRebootPlan(
  plan: Plan,
  host: SshRebootHost,
  { output, io }: Context,
  options: { flake: string; json: boolean; onlyNeeded: boolean; settings: Partial<RebootSettings> },
): Promise<string> {
  const run = createRebootRun(plan, { flake: options.flake, settings: options.settings });
  const machines = plan.steps.flatMap((step) => step.machines);
  const prompt = terminalPrompt(io);
  return withInterrupt(io, async (signal) => {
    if (options.onlyNeeded) skipMachines(run, await machinesNotNeedingReboot(host, machines));
    // The prompt is asked at the terminal right now: the engine reports machine.waiting first.
    const approval: ApprovalPort = {
      interactive: true,
      request: async (machine) =>
        (await prompt?.confirm(`Reboot ${machine.name} (${machine.criticalityLevel})?`))
          ? { type: 'approved', approvals: [] }
          : { type: 'denied', reason: `the reboot of ${machine.name} was not confirmed` },
    };
    const engine = rebootEngine(run, { host, approval, power: new LocalPowerControl() });
    engine.on(eventPrinter(output, options.json, machines));
    await engine.run(signal);
    return engine.state.status;
  });
}
