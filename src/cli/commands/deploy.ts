import { type Command, Option } from 'commander';
import { buildOnTargets } from '../../domain/deploy/build-on-targets.js';
import { buildSystems } from '../../domain/deploy/build-systems.js';
import { dryRun } from '../../domain/deploy/dry-run.js';
import { SshDeployHost } from '../../domain/deploy/ssh-deploy-host.js';
import { loadInventory } from '../../domain/inventory/load-inventory.js';
import { deployStrategies, type Machine } from '../../domain/inventory/schema.js';
import { deploySteps } from '../../domain/planner/deploy-steps.js';
import { planSequence } from '../../domain/planner/plan.js';
import { UsageError } from '../../errors.js';
import { copyConcurrency } from '../../orchestration/copy-ahead.js';
import { withStrategy } from '../../orchestration/deploy-strategies.js';
import { globalMaintenanceWindow } from '../../orchestration/maintenance-window-setting.js';
import { deployEngine } from '../../orchestration/procedures/deploy.js';
import { createDeployRun, defaultRebootSettings } from '../../orchestration/run-state.js';
import { runWindowSettings } from '../../orchestration/window-gate.js';
import { loadSshCredentials } from '../../transport/ssh/ssh-credentials.js';
import { cliActor, submitAndFollow } from '../queue-support.js';
import { deployPlanJson, deployPlanText } from '../render/deploy-plan.js';
import {
  eventPrinter,
  requireConfirmable,
  runExitCode,
  terminalPrompt,
  withInterrupt,
} from '../run-support.js';
import { type FlakeOptions, flakeSettings, wholeSeconds } from '../settings.js';
import { runRebootPlan } from './reboot.js';
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

interface DeployOptions extends FlakeOptions, SshOptions, SkipBrokenOptions, WindowOptions {
  all?: boolean;
  dryRun?: boolean;
  evalOnly?: boolean;
  yes?: boolean;
  json?: boolean;
  healthTimeout: number;
  rebootTimeout: number;
  rebootIfNeeded?: boolean;
  substituteOnTarget?: boolean;
  buildOnTarget?: boolean;
  strategy?: 'rolling' | 'blue-green' | 'recreate';
  queue?: boolean;
  as?: string;
}

export function deployCommand(program: Command, context: Context): void {
  deployOptions(
    program
      .command('deploy')
      .description(
        "build, copy and activate the machines' configurations, health-gated, rolled back on failure",
      )
      .argument('[targets...]', 'machine names or @group')
      .option('-a, --all', 'deploy every machine'),
  ).action((targets: string[], options: DeployOptions) => deploy(targets, options, context));
  // The seed's orchestrator script calls `lab deploy-all`.
  deployOptions(program.command('deploy-all').description('the same as `lab deploy --all`')).action(
    (options: DeployOptions) => deploy([], { ...options, all: true }, context),
  );
}

/** The options `lab deploy` and `lab deploy-all` share. */
function deployOptions(command: Command): Command {
  return withWindowOptions(withSkipBrokenOption(withSshOptions(withFlakeOptions(command))))
    .option(
      '-n, --dry-run',
      "activate nothing: build, copy to the machines' stores, and show per machine the packages, closure size, units and reboot the deploy would change",
    )
    .option(
      '--eval-only',
      'with --dry-run: only evaluate; build and copy nothing (no package or unit changes shown)',
    )
    .option('-y, --yes', 'do not ask before deploying to high and critical machines')
    .option(
      '--health-timeout <s>',
      'seconds the checks may take to turn green after activation',
      wholeSeconds('--health-timeout'),
      300,
    )
    .option(
      '--reboot-timeout <s>',
      'with --reboot-if-needed: seconds a machine may take to come back',
      wholeSeconds('--reboot-timeout'),
      defaultRebootSettings.rebootTimeout,
    )
    .option(
      '--reboot-if-needed',
      'then reboot, in order, the machines whose kernel, initrd or modules changed',
    )
    .option('--build-on-target', 'build each system on its own machine instead of here')
    .option(
      '--substitute-on-target',
      'let machines fetch paths from their binary caches instead of copying them',
    )
    .option('--json', 'print events as JSON lines (stable format)')
    .addOption(
      new Option(
        '--strategy <strategy>',
        "one strategy for every machine instead of each machine's own",
      ).choices(deployStrategies),
    )
    .option('-q, --queue', 'enqueue the run for `lab worker`s (durable, approvals) and follow it')
    .option('--as <name>', 'with --queue: who you are, for the record (default: $LAB_USER or user@host)');
}

async function deploy(targets: string[], options: DeployOptions, context: Context): Promise<void> {
  const { output, env, io } = context;
  if (targets.length === 0 && !options.all) {
    throw new UsageError('name the machines to deploy (names or @group), or pass --all');
  }
  if (options.evalOnly && !options.dryRun) throw new UsageError('--eval-only goes with --dry-run');
  const settings = flakeSettings(options, env);
  const windows = windowRequest(options);
  if (options.queue) {
    if (options.yes)
      throw new UsageError('--yes cannot skip the approvals of a queued run (see LAB_APPROVALS_*)');
    if (options.dryRun) throw new UsageError('--dry-run runs here and touches nothing: leave out --queue');
    await submitAndFollow(
      context,
      {
        kind: 'deploy',
        flake: settings.flake,
        targets: options.all ? [] : targets,
        ...(options.strategy ? { strategy: options.strategy } : {}),
        rebootIfNeeded: options.rebootIfNeeded === true,
        skipBroken: options.skipBroken === true,
        buildOnTarget: options.buildOnTarget === true,
        substituteOnTarget: options.substituteOnTarget === true,
        healthTimeout: options.healthTimeout,
        rebootTimeout: options.rebootTimeout,
        ...windows,
        requestedBy: cliActor(env, options.as),
        source: 'cli',
      },
      options.json === true,
    );
    return;
  }
  const copyAhead = copyConcurrency(env);
  const inventory = await loadInventory(settings);
  const strategy = options.strategy;
  const plan = planSequence(inventory, {
    targets: options.all ? [] : targets,
    skipBroken: options.skipBroken === true,
  });
  reportSkipped(context, plan.skipped);
  const steps = deploySteps(withStrategy(plan, strategy));
  const machines = steps.flatMap((step) => step.machines);
  const credentials = await loadSshCredentials(
    { keyPath: options.sshKey, knownHostsPath: options.knownHosts },
    env,
  );
  const host = new SshDeployHost(credentials, settings.nix, {
    substituteOnTarget: options.substituteOnTarget,
    buildOnTarget: options.buildOnTarget,
  });
  try {
    if (options.dryRun) {
      const build = async (chosen: readonly Machine[]) =>
        options.buildOnTarget
          ? buildOnTargets(host, settings.nix, settings.flake, chosen)
          : buildSystems(
              settings.nix,
              settings.flake,
              chosen.map((machine) => machine.name),
            );
      const plan = await dryRun(
        settings.nix,
        settings.flake,
        machines,
        host,
        options.evalOnly ? {} : { preview: { build, host } },
      );
      if (options.json) output.json(deployPlanJson(steps, plan));
      else output.lines(deployPlanText(steps, plan, settings.flake, output.style));
      return;
    }
    const prompt = terminalPrompt(io);
    if (!options.yes) {
      const critical = machines.filter((machine) =>
        defaultRebootSettings.confirmLevels.includes(machine.criticalityLevel),
      );
      requireConfirmable(critical, prompt);
      if (prompt && critical.length > 0) {
        const list = critical.map((machine) => `${machine.name} (${machine.criticalityLevel})`).join(', ');
        if (!(await prompt.confirm(`Deploy to ${list}?`))) {
          output.lines(['Deploy cancelled: nothing was touched.']);
          context.setExitCode(130);
          return;
        }
      }
    }
    const run = createDeployRun(steps, {
      flake: settings.flake,
      settings: {
        healthTimeout: options.healthTimeout,
        ...runWindowSettings(windows, globalMaintenanceWindow(env)),
      },
    });
    const engine = deployEngine(run, {
      host,
      copyAhead,
      build: (names, buildSignal) =>
        options.buildOnTarget
          ? buildOnTargets(
              host,
              settings.nix,
              settings.flake,
              machines.filter((machine) => names.includes(machine.name)),
              buildSignal,
            )
          : buildSystems(settings.nix, settings.flake, names, { signal: buildSignal }),
    }).on(eventPrinter(output, options.json === true, machines));
    await withInterrupt(io, (signal) => engine.run(signal));
    const status = run.status;
    if (status !== 'succeeded' || !options.rebootIfNeeded || run.needsReboot.length === 0) {
      context.setExitCode(runExitCode(status));
      return;
    }
    const rebootPlan = planSequence(inventory, { targets: run.needsReboot });
    const rebootStatus = await runRebootPlan(rebootPlan, host, context, {
      flake: settings.flake,
      json: options.json === true,
      onlyNeeded: false,
      settings: {
        rebootTimeout: options.rebootTimeout,
        healthTimeout: options.healthTimeout,
        confirmLevels: options.yes ? [] : defaultRebootSettings.confirmLevels,
      },
    });
    context.setExitCode(runExitCode(rebootStatus));
  } finally {
    await host.close();
  }
}
