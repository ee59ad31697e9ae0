import type { Command } from 'commander';
import { checkMachine } from '../../domain/health/check-machine.js';
import { loadInventory } from '../../domain/inventory/load-inventory.js';
import { selectForPlan } from '../../domain/planner/plan.js';
import { loadSshCredentials } from '../../transport/ssh/ssh-credentials.js';
import { SshPool } from '../../transport/ssh/ssh-pool.js';
import { mapConcurrent } from '../../util/map-concurrent.js';
import { cliActor, submitAndFollow } from '../queue-support.js';
import { healthJson, healthText } from '../render/health.js';
import { type FlakeOptions, flakeSettings, positiveInteger } from '../settings.js';
import {
  type Context,
  reportSkipped,
  type SkipBrokenOptions,
  type SshOptions,
  withFlakeOptions,
  withSkipBrokenOption,
  withSshOptions,
} from './shared.js';

interface HealthOptions extends FlakeOptions, SshOptions, SkipBrokenOptions {
  json?: boolean;
  concurrency: number;
  queue?: boolean;
  as?: string;
}

export function healthCommand(program: Command, context: Context): void {
  const { output, env, setExitCode } = context;
  withSkipBrokenOption(withSshOptions(withFlakeOptions(program.command('health'))))
    .description("run the machines' health checks over SSH, from each machine's own point of view")
    .argument('[targets...]', 'machine names, @group or all (default: all)')
    .option('--concurrency <n>', 'machines checked at once', positiveInteger('--concurrency'), 16)
    .option('--json', 'print JSON (stable format)')
    .option('-q, --queue', 'check from a `lab worker` (as a queued run) and follow it')
    .option('--as <name>', 'with --queue: who you are, for the record (default: $LAB_USER or user@host)')
    .action(async (targets: string[], options: HealthOptions) => {
      if (options.queue) {
        const flake = flakeSettings(options, env).flake;
        const request = {
          kind: 'health' as const,
          flake,
          targets,
          skipBroken: options.skipBroken === true,
          requestedBy: cliActor(env, options.as),
          source: 'cli' as const,
        };
        await submitAndFollow(context, request, options.json === true);
        return;
      }
      const inventory = await loadInventory(flakeSettings(options, env));
      const { machines, skipped } = selectForPlan(inventory, {
        targets,
        skipBroken: options.skipBroken === true,
      });
      reportSkipped(context, skipped);
      const credentials = await loadSshCredentials(
        { keyPath: options.sshKey, knownHostsPath: options.knownHosts },
        env,
      );
      const pool = new SshPool(credentials);
      try {
        const results = await mapConcurrent(machines, options.concurrency, (machine) =>
          checkMachine(pool, machine),
        );
        if (options.json) output.json(healthJson(results));
        else output.lines(healthText(results, output.style));
        if (!results.every((result) => result.ok)) setExitCode(1);
      } finally {
        await pool.closeAll();
      }
    });
}
