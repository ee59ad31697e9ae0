import type { Command } from 'commander';
import { discordConfig, discordWanted } from '../../discord/discord-config.js';
import { metricsListen } from '../../metrics/metrics-config.js';
import { sshChangePreviewer } from '../../orchestration/change-previewer.js';
import { monitorConfig } from '../../orchestration/monitor/monitor-config.js';
import { queueConfig } from '../../orchestration/queue/queue-config.js';
import { RunControl } from '../../orchestration/queue/run-control.js';
import type { LabWorker } from '../../orchestration/queue/run-worker.js';
import { loadSshCredentials } from '../../transport/ssh/ssh-credentials.js';
import { SshPool } from '../../transport/ssh/ssh-pool.js';
import { type Logger, logSettings } from '../logger.js';
import { runEventLine } from '../render/run-events.js';
import { plainStyle } from '../render/style.js';
import { serviceLogger, untilStopSignal } from '../run-support.js';
import { flakeSettings, positiveInteger } from '../settings.js';
import { registerOnStart } from './discord.js';
import { type Context, type SshOptions, withSshOptions } from './shared.js';

interface WorkerCommandOptions extends SshOptions {
  concurrency?: number;
  nix?: string;
  json?: boolean;
}

export function workerCommands(program: Command, context: Context): void {
  withSshOptions(program.command('worker'))
    .description('carry out queued runs (reboots, deploys, health, inventory reads) from Redis')
    .option(
      '-c, --concurrency <n>',
      'runs carried out at once (default: $LAB_WORKER_CONCURRENCY or 4)',
      positiveInteger('--concurrency'),
    )
    .option('--nix <path>', 'nix binary (default: $LAB_NIX or nix)')
    .action((options: WorkerCommandOptions) => runWorker(options, context, false));

  withSshOptions(program.command('serve'))
    .description(
      "the usual homelab process: a worker, the Discord bot (with DISCORD_TOKEN), and every run's events printed",
    )
    .option(
      '-c, --concurrency <n>',
      'runs carried out at once (default: $LAB_WORKER_CONCURRENCY or 4)',
      positiveInteger('--concurrency'),
    )
    .option('--nix <path>', 'nix binary (default: $LAB_NIX or nix)')
    .option('--json', 'print events as JSON lines')
    .action((options: WorkerCommandOptions) => runWorker(options, context, true));
}

/** Runs until SIGTERM or SIGINT: then stops taking work, parks running runs, and exits 0. */
async function runWorker(
  options: WorkerCommandOptions,
  context: Context,
  printEvents: boolean,
): Promise<void> {
  const { env } = context;
  const log = serviceLogger(printEvents ? 'lab serve' : 'lab worker', context);
  const config = queueConfig(env);
  const monitoring = monitorConfig(env);
  const metricsAt = metricsListen(env);
  const nix = flakeSettings({ nix: options.nix }, env).nix;
  const credentials = await loadSshCredentials(
    { keyPath: options.sshKey, knownHostsPath: options.knownHosts },
    env,
  );
  // Discord is configured and checked before anything starts: a bad variable stops here.
  // `lab worker` only posts run messages: it needs no LAB_FLAKE; `lab serve`'s bot does.
  const discord = discordWanted(env) ? discordConfig(env, { bot: printEvents }) : null;
  // BullMQ, ioredis and discord.js load here, not with every `lab` command.
  const [{ LabWorker }, { redactUrl }, { HealthMonitor }, metricsModules, discordModules] = await Promise.all(
    [
      import('../../orchestration/queue/run-worker.js'),
      import('../../orchestration/queue/redis.js'),
      import('../../orchestration/monitor/health-monitor.js'),
      metricsAt
        ? Promise.all([import('../../metrics/lab-metrics.js'), import('../../metrics/metrics-server.js')])
        : null,
      discord
        ? Promise.all([
            import('../../discord/lab-bot.js'),
            import('../../discord/register-commands.js'),
            import('../../discord/run-notifier.js'),
            import('../../discord/monitor-notifier.js'),
          ])
        : null,
    ],
  );
  const [metricsModule, metricsServerModule] = metricsModules ?? [];
  const worker = await LabWorker.start(config, {
    nix,
    credentials,
    concurrency: options.concurrency,
    name: `${process.pid}`,
    log,
  });
  log.info(
    { queue: config.queue, redis: redactUrl(config.redisUrl) },
    `ready: queue ${config.queue} at ${redactUrl(config.redisUrl)}, ${options.concurrency ?? config.concurrency} at once` +
      (config.schedule
        ? `, nightly pipeline "${config.schedule.cron}" for ${config.schedule.flake}` +
          (config.schedule.skipBroken ? ' (going on without hosts that cannot be read)' : '')
        : ''),
  );
  const monitorPool = new SshPool(credentials);
  const monitor = await HealthMonitor.start({
    config: monitoring,
    runs: worker.runs,
    readInventory: (flake) => worker.processor.readInventory(flake),
    pool: monitorPool,
    name: `${process.pid}`,
    log,
  }).catch(async (error: Error) => {
    await worker.stop();
    throw error;
  });
  log.info(
    monitor
      ? `monitor: ${monitoring.flake}'s machines every ${monitoring.interval} s unless they set their own, reported after ${monitoring.failureThreshold} failing checks, recovered after ${monitoring.successThreshold}`
      : `monitor: off (${monitoring.interval === 0 ? 'LAB_MONITOR_INTERVAL=0' : 'no LAB_FLAKE to watch'})`,
  );
  const metrics = metricsModule
    ? new metricsModule.LabMetrics(
        worker.runs,
        monitoring,
        log,
        monitor ? () => monitorPool.opened : undefined,
      )
    : null;
  const metricsServer =
    metrics && metricsAt && metricsServerModule
      ? await metricsServerModule.MetricsServer.start(metrics, metricsAt, log).catch(async (error: Error) => {
          await monitor?.stop();
          await worker.stop();
          throw error;
        })
      : null;
  metrics?.start();
  if (metricsServer) log.info(`metrics: Prometheus endpoint at ${metricsServer.url}`);
  // Workers post run messages over REST; `lab serve` also runs the bot (gateway).
  const [botModule, registration, notifierModule, monitorNotifierModule] = discordModules ?? [];
  const rest = discord && registration ? registration.discordRest(discord) : null;
  const notifier =
    discord && notifierModule && rest
      ? new notifierModule.RunNotifier(worker.runs, discord, rest, log)
      : null;
  notifier?.start();
  const monitorNotifier =
    discord && rest && monitorNotifierModule
      ? new monitorNotifierModule.MonitorNotifier(worker.runs, discord, rest, log)
      : null;
  monitorNotifier?.start();
  const bot =
    discord && printEvents && botModule
      ? new botModule.LabBot(discord, worker.runs, new RunControl(worker.runs), log, {
          preview: sshChangePreviewer(nix, credentials),
          monitor: monitoring,
        })
      : null;
  try {
    await bot?.start();
  } catch (error) {
    await notifier?.stop();
    await monitorNotifier?.stop();
    await metrics?.stop();
    await metricsServer?.stop();
    await monitor?.stop();
    await worker.stop();
    throw error;
  }
  if (discord)
    log.info(`discord: ${bot ? 'bot and ' : ''}run messages in ${discord.guildIds.length} guild(s)`);
  if (discord && bot) registerOnStart(discord, log);
  const stopping = new AbortController();
  const printing = printEvents
    ? printAllEvents(worker, context, options.json === true, stopping.signal, log)
    : null;
  await untilStopSignal(log, 'parking running runs and stopping');
  // The bot first: it stops taking interactions at once and lets those in progress finish, while
  // the worker still reads flakes for them and Redis is still open; only then the rest.
  const botStopped = bot?.stop();
  stopping.abort();
  await printing;
  await botStopped;
  await notifier?.stop();
  await monitorNotifier?.stop();
  await metrics?.stop();
  await metricsServer?.stop();
  await monitor?.stop();
  await worker.stop();
  log.info('stopped');
  // Everything lab opened is closed; HTTP keep-alive sockets of the Discord REST clients may
  // linger for a few seconds more. A stopped service exits now rather than when they time out.
  setTimeout(() => process.exit(), 500).unref();
}

/**
 * Every run's events as they happen: with --json as JSON lines on stdout; when the logs are JSON
 * (a service under systemd or Docker, where stdout and stderr end up in one log) as log entries;
 * else one readable line each on stdout, prefixed by the run.
 */
async function printAllEvents(
  worker: LabWorker,
  context: Context,
  json: boolean,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  const { output } = context;
  const asLog = !json && logSettings(context.env, context.io.stderr).format === 'json';
  const blocking = worker.runs.duplicateConnection('lab-serve-events');
  try {
    for await (const event of worker.runs.events.all(blocking, signal)) {
      if (json) output.jsonLine(event);
      else if (asLog) {
        const line = runEventLine(event, plainStyle, 0);
        const machine = 'machine' in event ? event.machine : undefined;
        if (line !== null)
          log.info({ runId: event.runId, event: event.type, machine }, line.trim().replace(/\s{2,}/g, ' '));
      } else {
        const line = runEventLine(event, output.style, 12);
        if (line !== null) output.lines([`${output.style.dim(event.runId)} ${line}`]);
      }
    }
  } catch (error) {
    if (!signal.aborted) log.error({ err: error }, `following events failed: ${(error as Error).message}`);
  } finally {
    blocking.disconnect();
  }
}
