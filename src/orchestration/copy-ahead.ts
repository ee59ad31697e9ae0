import { z } from 'zod';
import { ConfigurationError } from '../errors.js';

/** One machine's closure copy: when it began and ended, and whether it failed. */
export interface CopyRecord {
  readonly startedAt: number;
  /** When it ended (copied or failed); null while it runs. */
  readonly finishedAt: number | null;
  readonly failed: boolean;
  /** Resolves when the closure is in the machine's store; rejects with the copy's failure. */
  readonly done: Promise<void>;
}

/**
 * Copies closures to the machines of later steps while earlier steps activate and are gated, at
 * most `limit` at a time, in run order (so the next machine's copy is always the first begun).
 * When a machine's turn comes, `take` hands over its copy: finished ahead, still under way, or
 * (not begun, or failed ahead) a copy started at once whatever the limit — the machine whose
 * turn it is never waits for a slot. A copy only adds store paths to a machine: nothing it runs
 * or boots changes, so copies made ahead of a step that never comes (a failed gate, a cancel)
 * are harmless. `stop` ends the copies under way and begins no more.
 */
export class CopyAhead {
  private readonly records = new Map<string, CopyRecord>();
  private readonly waiting: string[] = [];
  private running = 0;
  private readonly controller = new AbortController();

  constructor(
    private readonly limit: number,
    private readonly copy: (name: string, signal: AbortSignal) => Promise<void>,
  ) {}

  /** Queues the machines' copies after those already queued, in this order. */
  ahead(names: readonly string[]): void {
    for (const name of names)
      if (!this.records.has(name) && !this.waiting.includes(name)) this.waiting.push(name);
    this.pump();
  }

  /**
   * The machine's turn: its copy, and whether it began ahead of the turn. A copy that failed
   * ahead is made again now (only a copy at the machine's turn can fail the machine).
   */
  take(name: string): { readonly record: CopyRecord; readonly ahead: boolean } {
    const index = this.waiting.indexOf(name);
    if (index >= 0) this.waiting.splice(index, 1);
    const record = this.records.get(name);
    if (record && !record.failed) return { record, ahead: true };
    return { record: this.start(name), ahead: false };
  }

  /** Ends the copies under way (their nix processes) and begins no more. */
  stop(): void {
    this.waiting.length = 0;
    this.controller.abort(new Error('the run stopped'));
  }

  private pump(): void {
    while (this.running < this.limit && this.waiting.length > 0 && !this.controller.signal.aborted)
      this.start(this.waiting.shift() as string);
  }

  private start(name: string): CopyRecord {
    this.running += 1;
    const record: { -readonly [K in keyof CopyRecord]: CopyRecord[K] } = {
      startedAt: Date.now(),
      finishedAt: null,
      failed: false,
      done: Promise.resolve(),
    };
    record.done = this.copy(name, this.controller.signal).then(
      () => {
        record.finishedAt = Date.now();
        this.settled();
      },
      (error: unknown) => {
        record.finishedAt = Date.now();
        record.failed = true;
        this.settled();
        throw error;
      },
    );
    // A copy made ahead that fails is made again at the machine's turn: not an unhandled rejection.
    record.done.catch(() => {});
    this.records.set(name, record);
    return record;
  }

  private settled(): void {
    this.running -= 1;
    this.pump();
  }
}

const COPY_CONCURRENCY_RULE = 'must be a whole number from 0 to 64';

/**
 * LAB_COPY_CONCURRENCY: how many closures are copied at once ahead of their machines' turn
 * (default 4); 0 copies each closure only when its machine's turn comes.
 */
export const copyConcurrencySchema = z
  .string()
  .trim()
  .regex(/^\d{1,2}$/, COPY_CONCURRENCY_RULE)
  .transform(Number)
  .refine((value) => value <= 64, COPY_CONCURRENCY_RULE)
  .default(4);

/** LAB_COPY_CONCURRENCY from the environment; an invalid value names the variable and what it must be. */
export function copyConcurrency(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.LAB_COPY_CONCURRENCY;
  const parsed = copyConcurrencySchema.safeParse(raw === '' ? undefined : raw);
  if (!parsed.success)
    throw new ConfigurationError(
      `invalid environment: LAB_COPY_CONCURRENCY: ${COPY_CONCURRENCY_RULE} (got '${raw}')`,
    );
  return parsed.data;
}
