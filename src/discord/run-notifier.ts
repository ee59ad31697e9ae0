import { randomBytes } from 'node:crypto';
import { type REST, Routes } from 'discord.js';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ApprovalPreview } from '../orchestration/approval-preview.js';
import { Leases } from '../orchestration/queue/lease.js';
import { RunControl } from '../orchestration/queue/run-control.js';
import type { RunQueue } from '../orchestration/queue/run-queue.js';
import type { RunJobData } from '../orchestration/queue/run-request.js';
import type { RunEvent } from '../orchestration/run-events.js';
import { isRunDone } from '../orchestration/run-state.js';
import type { DiscordConfig } from './discord-config.js';
import { alertMessage, haltOutcome } from './render/alert-message.js';
import { withApprovalPreviews } from './render/approval-previews.js';
import type { DiscordMessage } from './render/plan-message.js';
import { type ApprovalWait, runMessage } from './render/run-message.js';
import { runReport, withReport } from './render/run-report.js';
import { threadLine } from './render/thread-lines.js';

/** Where a run's messages are, kept in Redis so any process (after any restart) finds them again. */
interface RunMessages {
  channelId: string;
  messageId: string;
  threadId: string | null;
}

const LEADER_TTL_MS = 10_000;

/**
 * Shows runs in Discord with REST only (no gateway): one message per run, edited in place as it
 * progresses (edits coalesced), a thread with the per-step details, and an alert mentioning the
 * on-call role when a step fails. Every worker may run one; a leader lock in Redis makes one of
 * them post, and its cursor in the event stream lets the next leader go on where it stopped.
 */
export class RunNotifier {
  private readonly id = randomBytes(6).toString('hex');
  private readonly control: RunControl;
  private readonly leases: Leases;
  private readonly pending = new Map<
    string,
    { timer: NodeJS.Timeout | null; lines: string[]; lastEdit: number; failures: number }
  >();
  private stopping = new AbortController();
  private loop: Promise<void> | null = null;
  private blocking: Redis | null = null;

  constructor(
    private readonly runs: RunQueue,
    private readonly config: DiscordConfig,
    private readonly rest: REST,
    private readonly log?: Logger,
  ) {
    this.control = new RunControl(runs);
    this.leases = new Leases(runs.redis);
  }

  start(): void {
    this.loop ??= this.lead().catch((error: Error) =>
      this.log?.error({ err: error }, `discord notifier stopped: ${error.message}`),
    );
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.blocking?.disconnect();
    await this.loop;
    for (const runId of [...this.pending.keys()]) await this.flush(runId);
    await this.leases.release([this.runs.keys.discordLeader], this.id);
  }

  /** Waits to be the leader, then shows events until stopped or the lead is lost. */
  private async lead(): Promise<void> {
    const { signal } = this.stopping;
    // Redis away for a moment, say: tried again, from the saved cursor.
    await this.leases.lead(
      this.runs.keys.discordLeader,
      this.id,
      LEADER_TTL_MS,
      signal,
      () => this.showEvents(signal),
      (error) => this.log?.warn({ err: error }, `discord notifier: ${error.message}; retrying`),
    );
  }

  private async showEvents(signal: AbortSignal): Promise<void> {
    const redis = this.runs.redis;
    const cursorKey = this.runs.keys.discordCursor;
    let cursor = (await redis.get(cursorKey)) ?? '$';
    this.blocking = this.runs.duplicateConnection('lab-discord-notifier');
    let renewedAt = Date.now();
    try {
      for await (const { id, event } of this.runs.events.entries(this.blocking, signal, cursor)) {
        await this.show(event);
        cursor = id;
        await redis.set(cursorKey, cursor);
        if (Date.now() - renewedAt > LEADER_TTL_MS / 3) {
          if (!(await this.renewLead())) return;
          renewedAt = Date.now();
        }
      }
    } finally {
      this.blocking.disconnect();
      this.blocking = null;
    }
  }

  private async renewLead(): Promise<boolean> {
    return (await this.leases.renew([this.runs.keys.discordLeader], this.id, LEADER_TTL_MS)) === 1;
  }

  /** One event: schedule the run message's edit, note a detail for the thread, post or update alerts. */
  async show(event: RunEvent): Promise<void> {
    try {
      const record = await this.runs.run(event.runId);
      const messages = await this.messages(record.data);
      if (!messages) return;
      const line = threadLine(event);
      const entry = this.entry(event.runId);
      if (line !== null) entry.lines.push(line);
      if (event.type === 'run.halted' && record.data.state.halt) await this.postAlert(record.data, messages);
      if (event.type === 'run.decided' || event.type === 'run.finished')
        await this.closeAlert(record.data, event);
      if (event.type === 'run.finished')
        await this.flush(event.runId).catch((error: Error) => this.editFailed(event.runId, error));
      else this.scheduleEdit(event.runId);
    } catch (error) {
      this.log?.warn(
        { err: error, runId: event.runId, event: event.type },
        `discord: showing ${event.type} of run ${event.runId} failed: ${(error as Error).message}`,
      );
    }
  }

  /** The run's message and thread, posted on first sight; null when the run has no channel. */
  private async messages(data: RunJobData): Promise<RunMessages | null> {
    const key = this.runs.keys.discordRun(data.state.id);
    const stored = await this.runs.redis.hgetall(key);
    if (stored.messageId && stored.channelId)
      return { channelId: stored.channelId, messageId: stored.messageId, threadId: stored.threadId || null };
    const channelId = data.request.discordChannel ?? this.config.channelId;
    if (!channelId) return null;
    const message = (await this.rest.post(Routes.channelMessages(channelId), {
      body: await this.render(data),
    })) as { id: string };
    let threadId: string | null = null;
    try {
      const thread = (await this.rest.post(Routes.threads(channelId, message.id), {
        body: { name: `${data.state.kind} run ${data.state.id}`, auto_archive_duration: 1440 },
      })) as { id: string };
      threadId = thread.id;
    } catch (error) {
      this.log?.warn(
        { err: error, runId: data.state.id },
        `discord: no thread for run ${data.state.id}: ${(error as Error).message}`,
      );
    }
    await this.runs.redis.hset(key, { channelId, messageId: message.id, threadId: threadId ?? '' });
    await this.runs.redis.expire(key, 30 * 24 * 3600);
    this.entry(data.state.id).lastEdit = Date.now();
    return { channelId, messageId: message.id, threadId };
  }

  private entry(runId: string) {
    let entry = this.pending.get(runId);
    if (!entry) {
      entry = { timer: null, lines: [], lastEdit: 0, failures: 0 };
      this.pending.set(runId, entry);
    }
    return entry;
  }

  /** Edits at most once per interval; the last state always gets its edit. */
  private scheduleEdit(runId: string): void {
    const entry = this.entry(runId);
    if (entry.timer) return;
    const wait = Math.max(0, entry.lastEdit + this.config.editIntervalMs - Date.now());
    entry.timer = setTimeout(() => {
      entry.timer = null;
      this.flush(runId).catch((error: Error) => this.editFailed(runId, error));
    }, wait);
  }

  /** A failed edit is tried again (a few times), so the message does not stay behind the run. */
  private editFailed(runId: string, error: Error): void {
    const entry = this.entry(runId);
    entry.failures += 1;
    this.log?.warn(
      { err: error, runId, failures: entry.failures },
      `discord: editing run ${runId} failed (${entry.failures}): ${error.message}`,
    );
    if (entry.failures <= 5 && !this.stopping.signal.aborted) {
      entry.lastEdit = Date.now() + 1_000 * entry.failures;
      this.scheduleEdit(runId);
    }
  }

  /** Edits the run message to the run's current state and posts the collected details in its thread. */
  async flush(runId: string): Promise<void> {
    const entry = this.pending.get(runId);
    if (entry?.timer) clearTimeout(entry.timer);
    if (entry) entry.timer = null;
    const record = await this.runs.run(runId);
    const messages = await this.messages(record.data);
    if (!messages) return;
    // A finished run's message gets its report: the timeline as text, and as a picture.
    const report = await runReport(record.data, (error) =>
      this.log?.warn({ err: error, runId }, `discord: run ${runId}'s timeline picture: ${error.message}`),
    );
    const rendered = await this.render(record.data);
    const { message, files } = report
      ? withReport(rendered, report)
      : withApprovalPreviews(rendered, await this.approvalPreviews(record.data));
    await this.rest.patch(Routes.channelMessage(messages.channelId, messages.messageId), {
      body: message,
      ...(files.length > 0
        ? { files: files.map((file) => ({ name: file.name, data: file.attachment })) }
        : {}),
    });
    const lines = entry?.lines.splice(0) ?? [];
    if (messages.threadId && lines.length > 0) {
      for (const chunk of chunks(lines, 1900))
        await this.rest.post(Routes.channelMessages(messages.threadId), {
          body: { content: chunk, allowed_mentions: { parse: [] } },
        });
    }
    if (entry) {
      entry.lastEdit = Date.now();
      entry.failures = 0;
    }
    if (isDone(record.data)) this.pending.delete(runId);
  }

  private async render(data: RunJobData): Promise<DiscordMessage> {
    return runMessage(data, await this.approvalWaits(data));
  }

  /** The change previews of the deploy machines that wait for approvers now (see QueuedApprovals). */
  private async approvalPreviews(data: RunJobData): Promise<Map<string, ApprovalPreview>> {
    if (isDone(data) || data.state.kind !== 'deploy') return new Map();
    const waits = await this.approvalWaits(data);
    const { previews } = await this.control.read(data.state.id);
    return new Map(
      waits.flatMap((wait) => {
        const preview = previews[wait.machine];
        return preview ? [[wait.machine, preview] as const] : [];
      }),
    );
  }

  /** The machines of the run that wait for approvers now. */
  private async approvalWaits(data: RunJobData): Promise<ApprovalWait[]> {
    if (isDone(data)) return [];
    const control = await this.control.read(data.state.id);
    const waits: ApprovalWait[] = [];
    for (const [machine, since] of Object.entries(control.waitingSince)) {
      const progress = data.state.progress[machine];
      const target = data.state.machines[machine];
      if (!progress || !target || control.denials[machine] || progress.approval.approved) continue;
      waits.push({
        machine,
        required: data.policy.required[target.criticalityLevel],
        approvals: await this.control.approvals(data.state.id, machine),
        expiresAt: since + data.policy.timeout * 1000,
      });
    }
    return waits;
  }

  private async postAlert(data: RunJobData, messages: RunMessages): Promise<void> {
    const halt = data.state.halt;
    if (!halt) return;
    const key = this.runs.keys.discordRun(data.state.id);
    if (await this.runs.redis.hget(key, `alert:${halt.at}`)) return;
    const channelId = this.config.alertChannelId ?? messages.channelId;
    const message = (await this.rest.post(Routes.channelMessages(channelId), {
      body: alertMessage(data, halt, this.config.oncallRoleId, null),
    })) as { id: string };
    await this.runs.redis.hset(key, {
      [`alert:${halt.at}`]: `${channelId}:${message.id}`,
      alertCurrent: JSON.stringify(halt),
    });
  }

  /** Once decided (or the run ended), the alert says so and loses its buttons. */
  private async closeAlert(data: RunJobData, event: RunEvent): Promise<void> {
    const key = this.runs.keys.discordRun(data.state.id);
    const current = await this.runs.redis.hget(key, 'alertCurrent');
    if (!current) return;
    const halt = JSON.parse(current) as NonNullable<RunJobData['state']['halt']>;
    const where = await this.runs.redis.hget(key, `alert:${halt.at}`);
    if (!where) return;
    const [channelId, messageId] = where.split(':') as [string, string];
    if (event.type !== 'run.decided' && event.type !== 'run.finished') return;
    // A cancel names who cancelled; "nobody decided" only when the halt really expired.
    const cancel = event.type === 'run.finished' ? (await this.control.read(data.state.id)).cancel : null;
    const outcome = haltOutcome(event, halt, cancel?.by ?? null);
    await this.rest.patch(Routes.channelMessage(channelId, messageId), {
      body: alertMessage(data, halt, this.config.oncallRoleId, outcome),
    });
    await this.runs.redis.hdel(key, 'alertCurrent');
  }
}

const isDone = (data: RunJobData) => isRunDone(data.state.status);

function chunks(lines: readonly string[], max: number): string[] {
  const out: string[] = [];
  let current = '';
  for (const line of lines) {
    const piece = line.length > max ? `${line.slice(0, max - 2)} …` : line;
    if (current && current.length + piece.length + 1 > max) {
      out.push(current);
      current = '';
    }
    current = current ? `${current}\n${piece}` : piece;
  }
  if (current) out.push(current);
  return out;
}
