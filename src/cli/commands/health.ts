import type { Command } from 'commander';
import { checkMachine } from '../../domain/health/check-machine.js';
import { loadInventory } from '../../domain/inventory/load-inventory.js';
import type { Machine } from '../../domain/inventory/schema.js';
import { selectForPlan } from '../../domain/planner/plan.js';
import { loadSshCredentials } from '../../transport/ssh/ssh-credentials.js';
import { SshPool } from '../../transport/ssh/ssh-pool.js';
import { mapConcurrent } from '../../util/map-concurrent.js';
import { pause } from '../../util/pause.js';
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
  watch?: boolean;
  interval: number;
}

export function healthCommand(program: Command, context: Context): void {
  const { output, env, setExitCode } = context;
  withSkipBrokenOption(withSshOptions(withFlakeOptions(program.command('health'))))
    .description("run the machines' health checks over SSH, from each machine's own point of view")
    .argument('[targets...]', 'machine names, @group or all (default: all)')
    .option('--concurrency <n>', 'machines checked at once', positiveInteger('--concurrency'), 16)
    .option('--json', 'print JSON (stable format)')
    .option('-w, --watch', 'check again and redraw the table every --interval seconds, until Ctrl-C')
    .option('--interval <s>', 'with --watch: seconds between checks', positiveInteger('--interval'), 2)
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
      if (options.watch) {
        await watchHealth(context, machines, pool, options);
        return;
      }
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

/**
 * `lab health --watch`: the machine × check table again every interval, over the same
 * connections (no handshake per round), redrawn in place on a terminal; until Ctrl-C (exit 0).
 */
async function watchHealth(
  context: Context,
  machines: readonly Machine[],
  pool: SshPool,
  options: HealthOptions,
): Promise<void> {
  const { output, io } = context;
  const stop = new AbortController();
  const interrupt = () => stop.abort();
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  const redraw = io.stdout.isTTY === true && !options.json;
  try {
    while (!stop.signal.aborted) {
      const started = Date.now();
      const results = await mapConcurrent(machines, options.concurrency, (machine) =>
        checkMachine(pool, machine),
      );
      if (stop.signal.aborted) break;
      if (options.json) output.jsonLine({ at: new Date(started).toISOString(), ...healthJson(results) });
      else {
        const title = output.style.dim(
          `${new Date(started).toLocaleTimeString()} · every ${options.interval} s · Ctrl-C stops`,
        );
        if (redraw) io.stdout.write('\u001b[H\u001b[2J');
        output.lines([title, ...healthText(results, output.style), ...(redraw ? [] : [''])]);
      }
      await pause(Math.max(0, started + options.interval * 1000 - Date.now()), stop.signal);
    }
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    await pool.closeAll();
  }
}
