import type { Redis } from 'ioredis';
import type { MachineWatch, WatchEvent } from '../../domain/monitor/machine-watch.js';
import { isActive, type Silence } from '../../domain/monitor/silence.js';
import type { LabKeys } from '../queue/keys.js';

/** Monitor events kept in the stream (the notifier reads from its cursor, so this is plenty). */
const MAX_EVENTS = 10_000;

/** A monitor event with the time it was recorded at and its stream id. */
export interface MonitorEntry {
  readonly id: string;
  readonly event: WatchEvent;
}

/**
 * The monitor's state in Redis: each machine's MachineWatch, the silences and the stream of
 * monitor events. A machine's new state and the events it produced are written in one
 * transaction, so a restart neither loses a transition nor reports one twice.
 */
export class MonitorStore {
  constructor(
    readonly redis: Redis,
    readonly keys: LabKeys,
  ) {}

  async watches(): Promise<Map<string, MachineWatch>> {
    const all = await this.redis.hgetall(this.keys.monitorWatches);
    const watches = new Map<string, MachineWatch>();
    for (const [machine, text] of Object.entries(all)) {
      const watch = parseJson<MachineWatch>(text);
      if (watch) watches.set(machine, watch);
    }
    return watches;
  }

  async watch(machine: string): Promise<MachineWatch | null> {
    const text = await this.redis.hget(this.keys.monitorWatches, machine);
    return text ? parseJson<MachineWatch>(text) : null;
  }

  /** Saves the machine's state and appends its events, atomically. */
  async record(watch: MachineWatch, events: readonly WatchEvent[]): Promise<void> {
    const multi = this.redis.multi().hset(this.keys.monitorWatches, watch.machine, JSON.stringify(watch));
    for (const event of events)
      multi.xadd(
        this.keys.monitorEvents,
        'MAXLEN',
        '~',
        String(MAX_EVENTS),
        '*',
        'event',
        JSON.stringify(event),
      );
    const results = await multi.exec();
    const failed = results?.find(([error]) => error)?.[0];
    if (failed) throw failed;
  }

  /** Forgets machines that are no longer watched (gone from the flake, or opted out). */
  async forget(machines: readonly string[]): Promise<void> {
    if (machines.length > 0) await this.redis.hdel(this.keys.monitorWatches, ...machines);
  }

  /** The silences in force now, oldest first; expired ones are removed on the way. */
  async silences(now = Date.now()): Promise<Silence[]> {
    const all = await this.redis.hgetall(this.keys.monitorSilences);
    const active: Silence[] = [];
    const expired: string[] = [];
    for (const [id, text] of Object.entries(all)) {
      const silence = parseJson<Silence>(text);
      if (silence && isActive(silence, now)) active.push(silence);
      else expired.push(id);
    }
    if (expired.length > 0) await this.redis.hdel(this.keys.monitorSilences, ...expired);
    return active.sort((a, b) => a.createdAt - b.createdAt);
  }

  async addSilence(silence: Silence): Promise<void> {
    await this.redis.hset(this.keys.monitorSilences, silence.id, JSON.stringify(silence));
  }

  /** Removes a silence; the removed one, or null when there is no such silence (any more). */
  async removeSilence(id: string, now = Date.now()): Promise<Silence | null> {
    const text = await this.redis.hget(this.keys.monitorSilences, id);
    if (!text) return null;
    await this.redis.hdel(this.keys.monitorSilences, id);
    const silence = parseJson<Silence>(text);
    return silence && isActive(silence, now) ? silence : null;
  }

  /** The id of the newest monitor event ('0' when there is none): a cursor for "from now on". */
  async newestId(): Promise<string> {
    const newest = await this.redis.xrevrange(this.keys.monitorEvents, '+', '-', 'COUNT', 1);
    return newest[0]?.[0] ?? '0';
  }

  /** Monitor events after `after` (a stream id), as they come, until the signal aborts. */
  async *entries(blocking: Redis, after: string, signal?: AbortSignal): AsyncGenerator<MonitorEntry> {
    let last = after;
    const onAbort = () => blocking.disconnect();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal?.aborted) {
        let reply: [string, [string, string[]][]][] | null;
        try {
          reply = (await blocking.xread(
            'BLOCK',
            1_000,
            'STREAMS',
            this.keys.monitorEvents,
            last,
          )) as typeof reply;
        } catch (error) {
          if (signal?.aborted) return;
          throw error;
        }
        for (const [, entries] of reply ?? [])
          for (const [id, fields] of entries) {
            last = id;
            const index = fields.indexOf('event');
            const event = index >= 0 ? parseJson<WatchEvent>(fields[index + 1] ?? '') : null;
            if (event) yield { id, event };
          }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Every monitor event recorded so far (tests, `lab status`'s history). */
  async events(): Promise<WatchEvent[]> {
    const entries = await this.redis.xrange(this.keys.monitorEvents, '-', '+');
    return entries.flatMap(([, fields]) => {
      const index = fields.indexOf('event');
      const event = index >= 0 ? parseJson<WatchEvent>(fields[index + 1] ?? '') : null;
      return event ? [event] : [];
    });
  }
}

function parseJson<T>(text: string): T | null {
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}
