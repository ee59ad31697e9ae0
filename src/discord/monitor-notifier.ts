import { createHash, randomBytes } from 'node:crypto';
import { type REST, Routes } from 'discord.js';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { WatchEvent } from '../domain/monitor/machine-watch.js';
import { MonitorStore } from '../orchestration/monitor/monitor-store.js';
import { Leases } from '../orchestration/queue/lease.js';
import type { RunQueue } from '../orchestration/queue/run-queue.js';
import { pause } from '../util/pause.js';
import type { DiscordConfig } from './discord-config.js';
import {
  monitorAlertMessage,
  recoveredAlertMessage,
  recoveredReply,
  reopenedReply,
} from './render/monitor-alert.js';

const LEADER_TTL_MS = 10_000;
/** Retries of a Discord call that failed (down, 5xx, a long rate limit): from 1 s up to 30 s apart. */
const RETRY_MAX_MS = 30_000;
/** A first start (no cursor yet) shows monitor events of this long ago, not the whole history. */
const FIRST_START_LOOKBACK_MS = 10 * 60_000;
/** Where incidents' alerts are remembered (for recovery edits): 30 days. */
const ALERT_TTL_S = 30 * 24 * 3600;

/**
 * The monitor's alerts in Discord, over REST: one notifier of all workers' leads (a lease), and
 * reads the monitor's event stream from a cursor kept in Redis. The cursor moves past an event
 * only once Discord has taken it: while Discord is down or rate-limits, alerts wait, none is
 * lost; after a restart none is posted twice (the incident's alert is remembered, and Discord
 * drops a repeated post by its nonce).
 */
export class MonitorNotifier {
  private readonly id = randomBytes(6).toString('hex');
  private readonly leases: Leases;
  private readonly store: MonitorStore;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;
  private blocking: Redis | null = null;
  private warnedNoChannel = false;

  constructor(
    private readonly runs: RunQueue,
    private readonly config: DiscordConfig,
    private readonly rest: REST,
    private readonly log?: Logger,
  ) {
    this.leases = new Leases(runs.redis);
    this.store = new MonitorStore(runs.redis, runs.keys);
  }

  start(): void {
    this.loop ??= this.lead().catch((error: Error) =>
      this.log?.error({ err: error }, `discord monitor notifier stopped: ${error.message}`),
    );
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.blocking?.disconnect();
    await this.loop;
    await this.leases.release([this.runs.keys.monitorNotifierLeader], this.id);
  }

  private async lead(): Promise<void> {
    const { signal } = this.stopping;
    await this.leases.lead(
      this.runs.keys.monitorNotifierLeader,
      this.id,
      LEADER_TTL_MS,
      signal,
      () => this.showEvents(signal),
      (error) => this.log?.warn({ err: error }, `discord monitor notifier: ${error.message}; retrying`),
    );
  }

  private async showEvents(signal: AbortSignal): Promise<void> {
    const { redis, keys } = this.runs;
    const saved = await redis.get(keys.monitorCursor);
    const cursor = saved ?? `${Date.now() - FIRST_START_LOOKBACK_MS}-0`;
    this.blocking = this.runs.duplicateConnection('lab-discord-monitor');
    let renewedAt = Date.now();
    const renew = async () => {
      if (Date.now() - renewedAt < LEADER_TTL_MS / 3) return true;
      renewedAt = Date.now();
      return (await this.leases.renew([keys.monitorNotifierLeader], this.id, LEADER_TTL_MS)) === 1;
    };
    try {
      for await (const { id, event } of this.store.entries(this.blocking, cursor, signal)) {
        if (!(await this.deliver(event, signal, renew))) return;
        await redis.set(keys.monitorCursor, id);
        if (!(await renew())) return;
      }
    } finally {
      this.blocking?.disconnect();
      this.blocking = null;
    }
  }

  /**
   * Shows one event, trying again until Discord takes it; false when the lead was lost or the
   * notifier stops meanwhile (the event is then shown by whoever leads next).
   */
  private async deliver(
    event: WatchEvent,
    signal: AbortSignal,
    renew: () => Promise<boolean>,
  ): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.show(event);
        return true;
      } catch (error) {
        if (signal.aborted) return false;
        const wait = Math.min(RETRY_MAX_MS, 1_000 * 2 ** (attempt - 1));
        this.log?.warn(
          { err: error, machine: event.machine, event: event.type, attempt },
          `discord: showing ${event.type} of ${event.machine} failed (${(error as Error).message}); trying again in ${wait / 1000} s`,
        );
        await pause(wait, signal);
        if (signal.aborted || !(await renew())) return false;
      }
    }
  }

  async show(event: WatchEvent): Promise<void> {
    if (event.type === 'monitor.status') return;
    const channelId = this.config.alertChannelId ?? this.config.channelId;
    if (!channelId) {
      if (!this.warnedNoChannel)
        this.log?.warn(
          'discord: monitor alerts need DISCORD_ALERT_CHANNEL_ID or DISCORD_CHANNEL_ID; not posting them',
        );
      this.warnedNoChannel = true;
      return;
    }
    const key = this.runs.keys.monitorAlert(event.incident);
    const stored = await this.runs.redis.hgetall(key);
    if (event.type === 'monitor.alert') {
      if (stored.messageId) return;
      const message = (await this.rest.post(Routes.channelMessages(channelId), {
        body: {
          ...monitorAlertMessage(event, this.config.oncallRoleId),
          nonce: nonceOf(event),
          enforce_nonce: true,
        },
      })) as { id: string };
      await this.runs.redis
        .multi()
        .hset(key, { channelId, messageId: message.id })
        .expire(key, ALERT_TTL_S)
        .exec();
      return;
    }
    // A reopening or a recovery edits the incident's alert; without one (never posted) there is nothing to say.
    if (!stored.messageId || !stored.channelId) return;
    const done = `done:${event.type}:${event.at}`;
    if (stored[done]) return;
    const body =
      event.type === 'monitor.recovered'
        ? recoveredAlertMessage(event)
        : monitorAlertMessage(event, undefined);
    // The edit mentions nobody (an edit does not notify anyway); the reply lets the channel see it.
    await this.rest.patch(Routes.channelMessage(stored.channelId, stored.messageId), {
      body: { ...body, allowed_mentions: { parse: [] } },
    });
    await this.rest.post(Routes.channelMessages(stored.channelId), {
      body: {
        content: event.type === 'monitor.recovered' ? recoveredReply(event) : reopenedReply(event),
        message_reference: { message_id: stored.messageId, fail_if_not_exists: false },
        allowed_mentions: { parse: [] },
        nonce: nonceOf(event),
        enforce_nonce: true,
      },
    });
    await this.runs.redis.hset(key, done, '1');
  }
}

/** Discord drops a second message with the same nonce (for a few minutes): a post repeated after a crash. */
function nonceOf(event: WatchEvent): string {
  return createHash('sha256')
    .update(`${event.type}\u0000${event.machine}\u0000${event.at}`)
    .digest('hex')
    .slice(0, 25);
}
