import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunControl } from '../../src/orchestration/queue/run-control.js';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { Homelab } from '../sim/homelab.js';
import {
  alertOf,
  answerText,
  buttonIds,
  buttonLabels,
  runIdOf,
  runMessageOf,
} from '../support/discord-messages.js';
import { type DiscordStack, startDiscordStack } from '../support/discord-stack.js';
import { tcp } from '../support/homelabs.js';
import { finishedState, waitForEvent } from '../support/queue.js';
import { runLab } from '../support/run-cli.js';
import { parseEvents } from '../support/run-events.js';
import { type FakeDiscord, type FakeUser, snowflake } from './fake-discord.js';

/**
 * Power through Discord, on the simulated homelab: `/lab power` is a power run (the machine's
 * approvals, its lock), lab's recovery in a queued reboot, and the alert's Power cycle button.
 * What happened is read from each machine's power switch log and boot log.
 */
let stack: DiscordStack;
let lab: Homelab;
let fake: FakeDiscord;
let runs: RunQueue;
let control: RunControl;
let env: Record<string, string>;

const role = { operator: snowflake(), approver: snowflake(), oncall: snowflake() };
const user = (username: string, roles: string[]): FakeUser => ({ id: snowflake(), username, roles });
const alice = user('alice', [role.operator, role.approver]);
const bob = user('bob', [role.approver]);
const carol = user('carol', [role.approver]);
const mallory = user('mallory', []);
const plugged = { command: 'works' } as const;

beforeAll(async () => {
  stack = await startDiscordStack({
    machines: {
      // Critical: a power cycle needs two approvers.
      plug: { role: 'r', rebootOrder: 1, orchestration: { criticalityLevel: 'critical' }, power: plugged },
      // Waits a minute before its reboot: a reboot run holds its lock meanwhile.
      busy: { role: 'r', rebootOrder: 1, orchestration: { rebootDelay: 60 }, power: plugged },
      // Hangs after a reboot; no automatic recovery: the alert offers to power-cycle it.
      hung: {
        role: 'r',
        rebootOrder: 1,
        serves: [tcp(5432)],
        faults: ['never-comes-back'],
        orchestration: { criticalityLevel: 'high' },
        power: plugged,
      },
      // Not even its power switch brings it back; lab's recovery tries once.
      gone: { role: 'r', rebootOrder: 1, faults: ['dead'], power: { ...plugged, recover: 'power-cycle' } },
    },
    roles: role,
    queue: { LAB_REBOOT_TIMEOUT: '3', LAB_HEALTH_TIMEOUT: '5' },
  });
  ({ lab, fake, runs, control, env } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

/** What the machine's power switch did (its status reads apart). */
const powerActions = (name: string) =>
  lab
    .machine(name)
    .powerLog()
    .filter((record) => record.event !== 'status')
    .map((record) => record.event);

/** Clicks Approve on the run message for the machine, as the user; resolves with the answer. */
async function approve(runId: string, machine: string, who: FakeUser): Promise<string> {
  const found = await runMessageOf(fake, runId);
  const message = await fake.waitFor(
    () => (buttonIds(found).some((id) => id.startsWith(`lab:approve:${runId}:${machine}:`)) ? found : null),
    30_000,
    `the approval button of ${machine}`,
  );
  const id = buttonIds(message).find((candidate) => candidate.startsWith(`lab:approve:${runId}:${machine}:`));
  const click = fake.click(who, message, id as string);
  return fake.waitFor(() => click.original?.content, 10_000, 'the approval answer');
}

describe('/lab power and the alert’s Power cycle button', () => {
  it('refuses /lab power to someone without the operator role, ephemerally', async () => {
    const record = fake.command(mallory, 'power', { machine: 'plug', action: 'cycle' });
    await fake.waitFor(() => record.acknowledgedAt, 10_000, 'the refusal');
    expect(record.ephemeral).toBe(true);
    expect(record.original?.content).toBe('You need an operator role to start or steer runs.');
    expect(powerActions('plug')).toEqual([]);
  });

  it('power-cycles a critical machine only after two approvers approved: its switch cycles it, it boots again', async () => {
    const boots = lab.bootLog('plug').length;
    const record = fake.command(alice, 'power', { machine: 'plug', action: 'cycle' });
    const reply = await answerText(fake, record, 'the power reply');
    expect(reply).toMatch(/^Started power run `\w+`: cycle plug \(plan `[0-9a-f]{12}`\)\.$/);
    const runId = runIdOf(reply);
    const message = await runMessageOf(fake, runId);
    expect(message.embeds[0]?.title).toMatch(new RegExp(`^Power run ${runId} · `));

    expect(await approve(runId, 'plug', bob)).toBe('Approved plug (1 of 2); another approver is needed.');
    // One approval is not enough: nothing was switched.
    expect(powerActions('plug')).toEqual([]);
    expect(await approve(runId, 'plug', carol)).toBe(`Approved plug: run ${runId} goes on.`);

    const state = await finishedState(runs, runId, 30_000);
    expect(state.status).toBe('succeeded');
    expect(powerActions('plug')).toEqual(['cycle']);
    await lab.machine('plug').whenUp();
    expect(lab.bootLog('plug')).toHaveLength(boots + 1);
    const final = await fake.waitFor(
      () => (message.embeds[0]?.title?.includes('succeeded') ? message : null),
      30_000,
      'the run message to show success',
    );
    expect(final.embeds[0]?.description).toContain('**plug** power action done');
    expect(final.components).toEqual([]);
  });

  it('lab power --queue: a power run carried out by a worker, followed on the terminal', async () => {
    const result = await runLab(
      ['power', '--flake', lab.flake, 'plug', 'status', '--queue', '--json', '--as', 'tester'],
      { ...lab.env, ...env },
    );
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const events = parseEvents(result.stdout);
    expect(events[0]).toMatchObject({ type: 'run.queued', kind: 'power', steps: [['plug']] });
    expect(events.find((event) => event.type === 'machine.power')).toMatchObject({
      machine: 'plug',
      action: 'status',
      trigger: 'operator',
      by: 'tester',
      ok: true,
      steps: [expect.objectContaining({ method: 'command status', exitCode: 0, output: 'power on' })],
    });
    expect(events.at(-1)).toMatchObject({
      type: 'run.finished',
      status: 'succeeded',
      outcomes: [{ machine: 'plug', outcome: 'powered' }],
    });
    expect(lab.machine('plug').powerLog().at(-1)).toMatchObject({ event: 'status' });
  });

  it('no power action while another run holds the machine’s lock', async () => {
    const reboot = await runs.submit({
      kind: 'reboot',
      flake: lab.flake,
      targets: ['busy'],
      requestedBy: { id: 'cli:tester', name: 'tester' },
      source: 'cli',
    });
    await waitForEvent(runs, reboot.runId, 'machine.waiting');
    const record = fake.command(alice, 'power', { machine: 'busy', action: 'cycle' });
    // The deferred reply gives way to an ephemeral follow-up (only alice sees it).
    const followUp = await fake.waitFor(() => record.followUps[0], 30_000, 'the busy answer');
    expect(followUp.flags & 64).toBe(64);
    const refused = followUp.content;
    expect(refused).toBe(`⚠️ busy is busy: reboot run ${reboot.runId} started by tester holds it`);
    expect(powerActions('busy')).toEqual([]);
    await control.cancel(reboot.runId, { id: 'cli:tester', name: 'tester' });
    await finishedState(runs, reboot.runId, 30_000);
    expect(powerActions('busy')).toEqual([]);
    expect(lab.bootLog('busy')).toHaveLength(1);
  });

  it('a queued reboot whose machine stays dead after lab’s power cycle halts; the alert names both and offers Power cycle', async () => {
    const record = fake.command(alice, 'reboot', { target: 'gone' });
    const runId = runIdOf(await answerText(fake, record, 'the reboot reply'));
    const alert = await alertOf(fake, runId);
    expect(alert.embeds[0]?.description).toBe(
      'gone did not come back within 3 s of the reboot command (SSH never answered again); lab power-cycled gone once, and it did not come back within 3 s of that either (SSH never answered again)',
    );
    expect(buttonLabels(alert)).toEqual(['Retry gone', 'Skip gone', 'Abort run', 'Power cycle gone']);
    expect(powerActions('gone')).toEqual(['cycle']);
    const abort = buttonIds(alert).find((id) => id.split(':')[3] === 'abort') as string;
    fake.click(alice, alert, abort);
    expect((await finishedState(runs, runId, 30_000)).status).toBe('aborted');
  });

  it('the alert of a machine that did not come back offers Power cycle: with the approvals it power-cycles it, and a retry finds it back', async () => {
    const record = fake.command(alice, 'reboot', { target: 'hung' });
    const rebootRun = runIdOf(await answerText(fake, record, 'the reboot reply'));
    expect(await approve(rebootRun, 'hung', bob)).toBe(`Approved hung: run ${rebootRun} goes on.`);
    const alert = await alertOf(fake, rebootRun);
    expect(alert.embeds[0]?.description).toBe(
      'hung did not come back within 3 s of the reboot command (SSH never answered again)',
    );
    expect(powerActions('hung')).toEqual([]);
    const ids = buttonIds(alert);
    expect(buttonLabels(alert)).toEqual(['Retry hung', 'Skip hung', 'Abort run', 'Power cycle hung']);
    const powerButton = ids[3] as string;

    const refused = fake.click(mallory, alert, powerButton);
    expect(await fake.waitFor(() => refused.original?.content, 10_000, 'the refusal')).toBe(
      'You need an operator role to start or steer runs.',
    );
    const click = fake.click(alice, alert, powerButton);
    const started = await fake.waitFor(() => click.original?.content, 30_000, 'the power answer');
    expect(click.ephemeral).toBe(true);
    expect(started).toMatch(/^Started power run `\w+`: cycle hung/);
    const powerRun = runIdOf(started);
    // hung is high: one approval before its power is cut.
    expect(powerActions('hung')).toEqual([]);
    expect(await approve(powerRun, 'hung', bob)).toBe(`Approved hung: run ${powerRun} goes on.`);
    expect((await finishedState(runs, powerRun, 30_000)).status).toBe('succeeded');
    expect(powerActions('hung')).toEqual(['cycle']);
    await lab.machine('hung').whenUp();
    expect(lab.bootLog('hung')).toHaveLength(2);

    const retry = fake.click(alice, alert, ids[0] as string);
    await fake.waitFor(() => retry.original?.content, 10_000, 'the retry answer');
    const state = await finishedState(runs, rebootRun, 60_000);
    expect(state.status).toBe('succeeded');
    expect(state.progress.hung?.bootIdAfter).toBe(lab.bootLog('hung')[1]?.bootId);
    expect(powerActions('hung')).toEqual(['cycle']);
  });
});
