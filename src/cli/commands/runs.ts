import type { Command } from 'commander';
import { MonitorClient } from '../../orchestration/monitor/monitor-client.js';
import { monitorConfig } from '../../orchestration/monitor/monitor-config.js';
import { RunControl } from '../../orchestration/queue/run-control.js';
import type { RunQueue } from '../../orchestration/queue/run-queue.js';
import type { Decision } from '../../orchestration/run-flow.js';
import { cliActor, follow, withRunQueue } from '../queue-support.js';
import { monitorJson, monitorText } from '../render/monitor.js';
import { runJson, runsText, runText } from '../render/run-status.js';
import { runExitCode } from '../run-support.js';
import { positiveInteger } from '../settings.js';
import type { Context } from './shared.js';

interface ActorOptions {
  as?: string;
}

/** lab status, cancel, approve, deny, retry, skip, abort, follow: runs on the queue. */
export function runCommands(program: Command, context: Context): void {
  const { output } = context;
  program
    .command('status')
    .description('list active and recent queued runs, or show one run step by step')
    .argument('[run]', 'a run id')
    .option('-n, --limit <n>', 'runs listed', positiveInteger('--limit'), 20)
    .option('--json', 'print JSON (stable format)')
    .action((runId: string | undefined, options: { limit: number; json?: boolean }) =>
      withRunQueue(context, async (runs) => {
        if (runId) {
          const record = await runs.run(runId);
          if (options.json) output.json(runJson(record));
          else output.lines(runText(record, output.style));
          return;
        }
        const records = await runs.runs(options.limit);
        const monitor = await monitorView(runs, context.env);
        if (options.json)
          output.json({
            runs: records.map(runJson),
            ...(monitor ? { monitor: monitorJson(monitor.rows, monitor.silences) } : {}),
          });
        else {
          output.lines(runsText(records, output.style));
          if (monitor) output.lines(['', ...monitorText(monitor.rows, output.style)]);
        }
      }),
    );

  program
    .command('follow')
    .description("print a queued run's events from its start until it finishes")
    .argument('<run>', 'a run id')
    .option('--json', 'print events as JSON lines')
    .action((runId: string, options: { json?: boolean }) =>
      withRunQueue(context, async (runs) => {
        const record = await runs.run(runId);
        const status = await follow(context, runs, runId, record.data, options.json === true);
        context.setExitCode(status === null ? 130 : runExitCode(status));
      }),
    );

  actorCommand(
    program,
    'cancel',
    'cancel a run: nothing more is started; a machine already rebooting or activating is seen to the end',
  )
    .argument('<run>', 'a run id')
    .action((runId: string, options: ActorOptions) =>
      withRunQueue(context, async (runs) => {
        await new RunControl(runs).cancel(runId, cliActor(context.env, options.as));
        output.lines([
          `Cancelling run ${runId}: nothing more is started; a machine already rebooting or activating is seen back healthy first.`,
        ]);
      }),
    );

  actorCommand(program, 'approve', "approve a machine's step that waits for approval")
    .argument('<run>', 'a run id')
    .argument('<machine>', 'the machine whose step waits')
    .option('--plan <id>', 'the plan you reviewed (refused if the run has another)')
    .action((runId: string, machine: string, options: ActorOptions & { plan?: string }) =>
      withRunQueue(context, async (runs) => {
        const status = await new RunControl(runs).approve(
          runId,
          machine,
          cliActor(context.env, options.as),
          options.plan,
        );
        output.lines([
          status.complete
            ? `Approved ${machine} in run ${runId}: it goes on now.`
            : `Approved ${machine} in run ${runId}: ${status.approvals.length} of ${status.required} approvals.`,
        ]);
      }),
    );

  actorCommand(program, 'deny', "deny a machine's step: the run is cancelled, nothing more is touched")
    .argument('<run>', 'a run id')
    .argument('<machine>', 'the machine whose step waits')
    .option('--plan <id>', 'the plan you reviewed')
    .action((runId: string, machine: string, options: ActorOptions & { plan?: string }) =>
      withRunQueue(context, async (runs) => {
        await new RunControl(runs).deny(runId, machine, cliActor(context.env, options.as), options.plan);
        output.lines([`Denied ${machine} in run ${runId}: the run is cancelled.`]);
      }),
    );

  actorCommand(
    program,
    'start-now',
    'start a machine that waits for its maintenance window now (it still needs its approvals)',
  )
    .argument('<run>', 'a run id')
    .argument('<machine>', 'the machine that waits for its window')
    .option('--plan <id>', 'the plan you reviewed')
    .action((runId: string, machine: string, options: ActorOptions & { plan?: string }) =>
      withRunQueue(context, async (runs) => {
        await new RunControl(runs).startNow(runId, machine, cliActor(context.env, options.as), options.plan);
        output.lines([`Starting ${machine} in run ${runId} now, outside its maintenance window.`]);
      }),
    );

  const decisions: [Decision, string][] = [
    ['retry', 'retry the failed step of a halted run'],
    ['skip', 'skip the failed machines of a halted run and go on'],
    ['abort', 'end a halted run as aborted'],
  ];
  for (const [decision, description] of decisions) {
    actorCommand(program, decision, description)
      .argument('<run>', 'a run id')
      .action((runId: string, options: ActorOptions) =>
        withRunQueue(context, async (runs) => {
          await new RunControl(runs).decide(runId, decision, cliActor(context.env, options.as));
          output.lines([`Run ${runId}: ${decision} requested.`]);
        }),
      );
  }
}

/**
 * The monitor's view of the flake's machines (LAB_FLAKE, as the workers watch it), from the
 * machines a worker read last; null when no flake is set or none has been read yet.
 */
async function monitorView(runs: RunQueue, env: NodeJS.ProcessEnv) {
  const config = monitorConfig(env);
  if (!config.flake) return null;
  const inventory = await runs.cachedInventory(config.flake);
  if (!inventory) return null;
  const client = new MonitorClient(runs);
  return { rows: await client.rows(inventory, config), silences: await client.silences() };
}

function actorCommand(program: Command, name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .option('--as <name>', 'who you are, for the record (default: $LAB_USER or user@host)');
}
