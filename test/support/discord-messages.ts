/**
 * Reading what lab posted to the fake Discord API: an interaction's answer, a run's message and
 * alert, and the buttons of a message.
 */
import type { FakeDiscord, FakeMessage, InteractionRecord } from '../discord/fake-discord.js';

/** The text of the interaction's visible answer (deferred then edited, or replied), once it has some. */
export function answerText(
  fake: FakeDiscord,
  record: InteractionRecord,
  what: string,
  timeoutMs = 30_000,
): Promise<string> {
  return fake.waitFor(() => record.original?.content || null, timeoutMs, what);
}

/** The interaction's visible answer (deferred then edited, or replied), once it has text or an embed. */
export function answerMessage(
  fake: FakeDiscord,
  record: InteractionRecord,
  what: string,
  timeoutMs = 30_000,
): Promise<FakeMessage> {
  return fake.waitFor(
    () =>
      record.original && (record.original.content || record.original.embeds.length > 0)
        ? record.original
        : null,
    timeoutMs,
    what,
  );
}

/** The id of the run an answer names (`run \`<id>\``). */
export function runIdOf(content: string): string {
  return content.match(/run `(\w+)`/)?.[1] as string;
}

/** The run message the notifier posted for a run (its embed's title names the run). */
export function runMessageOf(fake: FakeDiscord, runId: string, timeoutMs = 30_000): Promise<FakeMessage> {
  return fake.waitFor(
    () => fake.channelMessages().find((message) => message.embeds[0]?.title?.includes(`run ${runId}`)),
    timeoutMs,
    `the run message of ${runId}`,
  );
}

/** The on-call alert the notifier posted when a step of the run failed. */
export function alertOf(fake: FakeDiscord, runId: string, timeoutMs = 60_000): Promise<FakeMessage> {
  return fake.waitFor(
    () =>
      fake
        .channelMessages()
        .find(
          (message) => message.content.includes(`run \`${runId}\``) && message.content.includes('failed at'),
        ),
    timeoutMs,
    `the alert of ${runId}`,
  );
}

/** The custom ids of the message's buttons, row after row. */
export function buttonIds(message: FakeMessage): string[] {
  return message.components.flatMap((row) => row.components.map((component) => component.custom_id ?? ''));
}

/** The labels of the message's buttons, row after row. */
export function buttonLabels(message: FakeMessage): string[] {
  return message.components.flatMap((row) => row.components.map((component) => component.label ?? ''));
}

/** The label of the message's button with that custom id. */
export function buttonLabel(message: FakeMessage, id: string): string | undefined {
  return message.components.flatMap((row) => row.components).find((component) => component.custom_id === id)
    ?.label;
}
