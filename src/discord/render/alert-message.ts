import { type APIButtonComponent, ButtonStyle, ComponentType } from 'discord.js';
import type { RunJobData } from '../../orchestration/queue/run-request.js';
import type { Halt } from '../../orchestration/run-flow.js';
import { encodeButton } from '../custom-ids.js';
import { COLOR, clip, when } from './colors.js';
import type { DiscordMessage } from './plan-message.js';

/**
 * A failed step: mentions the on-call role, names machine, phase, failing checks and error, and
 * offers Retry / Skip / Abort until someone decides (then shows who did, buttons gone).
 */
export function alertMessage(
  data: RunJobData,
  halt: Halt,
  oncallRoleId: string | undefined,
  decided: { decision: string; by: string } | null,
): DiscordMessage {
  const runId = data.state.id;
  const who = halt.machine ?? 'the build';
  const mention = oncallRoleId ? `<@&${oncallRoleId}> ` : '';
  const checks = halt.checks.map((check) => `• ${check.name}: ${check.error ?? 'failed'}`).join('\n');
  const decisions = (halt.machine === null ? ['retry', 'abort'] : ['retry', 'skip', 'abort']) as (
    | 'retry'
    | 'skip'
    | 'abort'
  )[];
  const buttons: APIButtonComponent[] = decisions.map((decision) => ({
    type: ComponentType.Button,
    style:
      decision === 'abort'
        ? ButtonStyle.Danger
        : decision === 'retry'
          ? ButtonStyle.Primary
          : ButtonStyle.Secondary,
    label: decision === 'retry' ? 'Retry' : decision === 'skip' ? `Skip ${halt.machine}` : 'Abort',
    custom_id: encodeButton({ action: 'decide', runId, decision, haltAt: halt.at }),
  }));
  return {
    content: clip(
      `${mention}**${who}** failed at **${halt.phase}** in ${data.state.kind} run \`${runId}\``,
      2000,
    ),
    embeds: [
      {
        title: clip(`${who}: ${halt.phase} failed`, 256),
        description: clip(halt.reason, 4000),
        color: decided ? COLOR.cancelled : COLOR.failed,
        fields: [
          ...(checks ? [{ name: 'Failing checks', value: clip(checks, 1000) }] : []),
          {
            name: decided ? 'Decided' : 'Decide by',
            value: decided
              ? `${decided.decision} by ${decided.by}`
              : `${when(halt.expiresAt, 'R')} (then the run is aborted)`,
          },
        ],
        footer: { text: `run ${runId} · started by ${data.request.requestedBy.name}` },
      },
    ],
    components: decided ? [] : [{ type: ComponentType.ActionRow, components: buttons }],
    allowed_mentions: { parse: [], ...(oncallRoleId ? { roles: [oncallRoleId] } : {}) },
  };
}
