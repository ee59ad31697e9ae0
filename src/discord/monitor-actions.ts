import { describeUnhealthy } from '../domain/health/check-result.js';
import type { Inventory } from '../domain/inventory/schema.js';
import type { Silence } from '../domain/monitor/silence.js';
import { MonitorClient } from '../orchestration/monitor/monitor-client.js';
import type { Actor } from '../orchestration/queue/run-request.js';
import type { BotContext } from './bot-context.js';

/** The flake's machines: the last read when there is one (autocomplete's), else read by a worker. */
export async function knownInventory(context: BotContext): Promise<Inventory> {
  return (
    (await context.runs.cachedInventory(context.config.flake)) ?? context.runs.inventory(context.config.flake)
  );
}

/** The alert's Reboot: a reboot run of the machine, its approvals as its criticality needs. */
export async function rebootFromAlert(
  context: BotContext,
  machine: string,
  actor: Actor,
  channelId: string | null,
): Promise<string> {
  const submitted = await context.runs.submit({
    kind: 'reboot',
    flake: context.config.flake,
    targets: [machine],
    skipBroken: false,
    requestedBy: actor,
    source: 'discord',
    ...(channelId ? { discordChannel: channelId } : {}),
  });
  if (submitted.duplicate) return `A reboot of ${machine} is already running as run \`${submitted.runId}\`.`;
  const level = submitted.data.state.machines[machine]?.criticalityLevel;
  const required = level ? submitted.data.policy.required[level] : 0;
  const approvals =
    required > 0
      ? ` ${machine} is ${level}: the reboot waits for ${required === 1 ? 'an approval' : `${required} approvals`}.`
      : '';
  return `Started reboot run \`${submitted.runId}\` of ${machine}.${approvals}`;
}

/** The alert's Silence 1 h: the machine's alerts are silenced, recorded with who clicked. */
export async function silenceFromAlert(
  context: BotContext,
  machine: string,
  duration: string,
  actor: Actor,
): Promise<Silence> {
  return new MonitorClient(context.runs).silence(
    { target: machine, duration, reason: 'silenced from the alert', by: actor },
    await knownInventory(context),
  );
}

/** The alert's Check now: a check by a worker, answered with its result and the monitor's view. */
export async function checkFromAlert(context: BotContext, machine: string): Promise<string> {
  const client = new MonitorClient(context.runs);
  try {
    const outcome = await client.checkNow(machine);
    if (outcome.result === 'in a run')
      return `${machine} is in run \`${outcome.run}\`: the run checks it, the monitor waits.`;
    if (outcome.result === 'being checked')
      return `${machine} is being checked right now; its result shows here when it changes.`;
    if (outcome.result === 'not watched' || !outcome.health)
      return `${machine} is not watched by the monitor.`;
    const health = outcome.health;
    const checks = health.checks.map(
      (check) => `${check.name} ${check.ok ? 'ok' : `failing (${check.error})`}`,
    );
    const now = health.ok
      ? `all checks pass${checks.length ? `: ${checks.join(', ')}` : ''}`
      : describeUnhealthy(health);
    return `${machine}: ${now}. The monitor has it ${outcome.status}.`;
  } finally {
    await client.close();
  }
}
