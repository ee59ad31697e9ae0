import type { Redis } from 'ioredis';
import type { RunEvent } from '../run-events.js';
import type { LabKeys } from './keys.js';

/** Events kept per run (approximate; a reboot of 50 machines writes about a thousand). */
const MAX_EVENTS = 20_000;

/**
 * A run's events in a Redis stream: workers append, anyone replays from the start and follows
 * live, so a renderer that starts late still shows the whole run.
 */
export class EventLog {
  constructor(
    private readonly redis: Redis,
    private readonly keys: LabKeys,
  ) {}

  /** Appends to the run's stream and to the queue's stream of every run's events. */
  async append(event: RunEvent): Promise<void> {
    const text = JSON.stringify(event);
    await this.redis
      .multi()
      .xadd(this.keys.events(event.runId), 'MAXLEN', '~', String(MAX_EVENTS), '*', 'event', text)
      .xadd(this.keys.allEvents, 'MAXLEN', '~', String(MAX_EVENTS), '*', 'event', text)
      .exec();
  }

  /**
   * Every run's events from now on (or from `after`), until the signal aborts: for processes that
   * show all runs (`lab serve`, the Discord notifier). Needs a connection of its own.
   */
  async *all(blocking: Redis, signal?: AbortSignal, after = '$'): AsyncGenerator<RunEvent> {
    for await (const entry of this.entries(blocking, signal, after)) yield entry.event;
  }

  /** Like `all`, with each event's stream id (a cursor to go on from after a restart). */
  async *entries(
    blocking: Redis,
    signal?: AbortSignal,
    after = '$',
  ): AsyncGenerator<{ id: string; event: RunEvent }> {
    let last = after;
    if (last === '$') {
      const newest = await this.redis.xrevrange(this.keys.allEvents, '+', '-', 'COUNT', 1);
      last = newest[0]?.[0] ?? '0';
    }
    yield* this.tail(blocking, this.keys.allEvents, last, signal);
  }

  /** Every event so far. */
  async read(runId: string): Promise<RunEvent[]> {
    const entries = await this.redis.xrange(this.keys.events(runId), '-', '+');
    return entries.map(([, fields]) => parseEntry(fields)).filter((event) => event !== null);
  }

  /**
   * Replays the run's events from the start, then follows new ones until `run.finished` or the
   * signal aborts. Needs a connection of its own (XREAD BLOCK holds it).
   */
  async *follow(runId: string, blocking: Redis, signal?: AbortSignal): AsyncGenerator<RunEvent> {
    for await (const { event } of this.tail(blocking, this.keys.events(runId), '0', signal)) {
      yield event;
      if (event.type === 'run.finished') return;
    }
  }

  /** Entries of a stream after `from`, as they come, until the signal aborts (XREAD BLOCK). */
  private async *tail(
    blocking: Redis,
    key: string,
    from: string,
    signal?: AbortSignal,
  ): AsyncGenerator<{ id: string; event: RunEvent }> {
    let last = from;
    const onAbort = () => blocking.disconnect();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal?.aborted) {
        let reply: [string, [string, string[]][]][] | null;
        try {
          reply = (await blocking.xread('BLOCK', 1_000, 'STREAMS', key, last)) as typeof reply;
        } catch (error) {
          if (signal?.aborted) return;
          throw error;
        }
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            last = id;
            const event = parseEntry(fields);
            if (event) yield { id, event };
          }
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

function parseEntry(fields: readonly string[]): RunEvent | null {
  const index = fields.indexOf('event');
  const text = index >= 0 ? fields[index + 1] : undefined;
  if (text === undefined) return null;
  try {
    return JSON.parse(text) as RunEvent;
  } catch {
    return null;
  }
}
