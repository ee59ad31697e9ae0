import type { Interaction } from 'discord.js';
import type { Logger } from 'pino';
import type { MonitorDefaults } from '../domain/monitor/monitor-settings.js';
import type { ChangePreviewer } from '../orchestration/change-previewer.js';
import type { RunControl } from '../orchestration/queue/run-control.js';
import type { RunQueue } from '../orchestration/queue/run-queue.js';
import type { Actor } from '../orchestration/queue/run-request.js';
import type { DiscordConfig } from './discord-config.js';
import type { Member } from './permissions.js';

/** What the interaction handlers work with. */
export interface BotContext {
  readonly config: DiscordConfig;
  readonly runs: RunQueue;
  readonly control: RunControl;
  readonly log: Logger;
  /** Aborted when the bot stops: waits that may end early (following a health run) end. */
  readonly stopping: AbortSignal;
  /** Makes change previews (`/lab diff`); absent in a bot without nix and SSH (`lab bot`). */
  readonly preview?: ChangePreviewer;
  /** The monitor's defaults (LAB_MONITOR_*), as the workers watch the machines: `/lab status`. */
  readonly monitor: MonitorDefaults;
}

/** The member behind an interaction: id, display name, role ids (from the cache or the payload). */
export function memberOf(interaction: Interaction): Member {
  const member = interaction.member;
  let roles: string[] = [];
  if (member) {
    const raw = member.roles as unknown;
    if (Array.isArray(raw)) roles = raw as string[];
    else if (raw && typeof raw === 'object' && 'cache' in raw)
      roles = [...(raw as { cache: Map<string, unknown> }).cache.keys()];
  }
  const name =
    (member && 'nick' in member && typeof member.nick === 'string' && member.nick) ||
    interaction.user.globalName ||
    interaction.user.username;
  return { userId: interaction.user.id, name, roles };
}

/** The member as the queue records them (requester, approver). */
export const actorOf = (member: Member): Actor => ({ id: `discord:${member.userId}`, name: member.name });
