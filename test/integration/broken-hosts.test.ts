import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiscordConfig, discordConfig } from '../../src/discord/discord-config.js';
import { LabBot } from '../../src/discord/lab-bot.js';
import { queueConfig } from '../../src/orchestration/queue/queue-config.js';
import { RunControl } from '../../src/orchestration/queue/run-control.js';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { RunJobData } from '../../src/orchestration/queue/run-request.js';
import { LabWorker } from '../../src/orchestration/queue/run-worker.js';
import { stepMachines } from '../../src/orchestration/run-state.js';
import { loadSshCredentials } from '../../src/transport/ssh/ssh-credentials.js';
import { FakeDiscord, type FakeMessage, type FakeUser, snowflake } from '../discord/fake-discord.js';
import type { Homelab } from '../sim/homelab.js';
import { testNix } from '../support/flake-fixtures.js';
import { homelabs, standardMachines, startTestHomelab } from '../support/homelabs.js';
import { memoryLogger } from '../support/memory-logger.js';
import { finishedState, followRun, lockHolders, queueClient, queueEnv } from '../support/queue.js';
import { runLab } from '../support/run-cli.js';
import { parseEvents } from '../support/run-events.js';

/**
 * A homelab with a machine that runs but whose lab.machine is wrong (a misspelt field): lab
 * cannot read it. Every plan of all or of its group must refuse, and with --skip-broken (the
 * Discord option, LAB_SCHEDULE_SKIP_BROKEN) go on without it and leave it untouched.
 */
let lab: Homelab;
const vaultProblem = 'lab.machine.orchestration.rebootdelay: unknown field';
const machines = ['nas', 'web', 'vault'] as const;

beforeAll(async () => {
  lab = await startTestHomelab({
    nas: { ...standardMachines.nas, groups: ['storage'] },
    web: homelabs.nasAndWeb.web,
    vault: {
      role: 'vault',
      rebootOrder: 1,
      groups: ['storage'],
      orchestration: { rebootdelay: 0 },
      services: [{ type: 'tcp', port: 8200 }],
    },
  });
});

afterAll(async () => {
  await lab?.stop();
});

/** How often each machine booted and was asked to reboot, and how often it activated a system. */
const touches = () =>
  Object.fromEntries(
    machines.map((name) => [
      name,
      {
        boots: lab.bootLog(name).length,
        rebootRequests: lab.rebootRequests(name).length,
        activations: lab.activations(name).length,
      },
    ]),
  );

const cli = (args: readonly string[], env: Record<string, string> = {}) =>
  runLab([...args, '--flake', lab.flake, '--nix-option', 'substituters='], { ...lab.env, ...env });

describe('in this process', () => {
  it('`lab reboot --all` refuses and touches nothing; with --skip-broken it reboots the others', async () => {
    const before = touches();
    const refused = await cli(['reboot', '--all', '--yes']);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toBe(
      [
        'lab: refusing to plan all machines: a host could not be read, and the plan would leave it out:',
        `  - vault: ${vaultProblem}`,
        'Fix it, or pass --skip-broken to go on without it.',
        '',
      ].join('\n'),
    );
    const group = await cli(['reboot', '@storage', '--yes']);
    expect(group.exitCode).toBe(2);
    expect(group.stderr).toContain(`  - vault (in @storage): ${vaultProblem}\n`);
    expect(touches()).toEqual(before);

    const result = await cli(['reboot', '--all', '--yes', '--skip-broken', '--reboot-timeout', '30']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(
      `Reboot sequence for ${lab.flake}: 2 machines in 2 steps\n\nrebootOrder 1\n  1. nas`,
    );
    expect(result.stdout).toContain(
      `Skipped (could not be read; --skip-broken):\n  vault: ${vaultProblem}\n`,
    );
    const after = touches();
    expect(after.nas?.boots).toBe((before.nas?.boots ?? 0) + 1);
    expect(after.web?.boots).toBe((before.web?.boots ?? 0) + 1);
    expect(after.vault).toEqual(before.vault);
  });

  it('`lab reboot --all --json --skip-broken` tells on stderr which hosts it goes on without', async () => {
    const before = touches();
    const result = await cli([
      'reboot',
      '--all',
      '--yes',
      '--skip-broken',
      '--json',
      '--reboot-timeout',
      '30',
    ]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe(
      `lab: going on without a host that could not be read (--skip-broken):\n  vault: ${vaultProblem}\n`,
    );
    expect(parseEvents(result.stdout).at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    expect(touches().vault).toEqual(before.vault);
  });

  it('`lab health` and `lab deploy --all` refuse; with --skip-broken they check and deploy the others', async () => {
    const refusedHealth = await cli(['health', '--json']);
    expect(refusedHealth.exitCode).toBe(2);
    expect(refusedHealth.stderr).toContain(`  - vault: ${vaultProblem}\n`);
    expect(refusedHealth.stdout).toBe('');
    const health = await cli(['health', '--json', '--skip-broken']);
    expect(health.exitCode).toBe(0);
    expect(health.stderr).toContain(`  vault: ${vaultProblem}\n`);
    expect(JSON.stringify(JSON.parse(health.stdout))).not.toContain('vault');

    const before = touches();
    const refusedDeploy = await cli(['deploy', '--all', '--yes']);
    expect(refusedDeploy.exitCode).toBe(2);
    expect(refusedDeploy.stderr).toContain(`  - vault: ${vaultProblem}\n`);
    expect(touches()).toEqual(before);
    const deploy = await cli([
      'deploy',
      '--all',
      '--yes',
      '--skip-broken',
      '--json',
      '--health-timeout',
      '20',
    ]);
    expect(deploy.stderr).toBe(
      `lab: going on without a host that could not be read (--skip-broken):\n  vault: ${vaultProblem}\n`,
    );
    expect(deploy.exitCode).toBe(0);
    const after = touches();
    expect(after.nas?.activations).toBeGreaterThan(before.nas?.activations ?? 0);
    expect(after.web?.activations).toBeGreaterThan(before.web?.activations ?? 0);
    expect(after.vault).toEqual(before.vault);
  });
});

describe('queued runs and Discord', () => {
  let env: Record<string, string>;
  let worker: LabWorker;
  let runs: RunQueue;
  let fake: FakeDiscord;
  let bot: LabBot;
  const operatorRole = snowflake();
  const alice: FakeUser = { id: snowflake(), username: 'alice', roles: [operatorRole] };

  beforeAll(async () => {
    env = queueEnv();
    worker = await startWorker(env);
    ({ runs } = await queueClient(env));
    fake = await FakeDiscord.start({ roles: [{ id: operatorRole, name: 'operator' }] });
    const config: DiscordConfig = discordConfig({
      DISCORD_TOKEN: 'fake-token',
      DISCORD_APPLICATION_ID: fake.applicationId,
      DISCORD_GUILD_IDS: fake.guildId,
      DISCORD_OPERATOR_ROLE_IDS: operatorRole,
      DISCORD_APPROVER_ROLE_IDS: operatorRole,
      DISCORD_API_URL: fake.apiUrl,
      LAB_FLAKE: lab.flake,
    });
    bot = new LabBot(config, runs, new RunControl(runs), memoryLogger().log);
    await bot.start();
  });

  afterAll(async () => {
    await bot?.stop();
    await fake?.stop();
    await worker?.stop();
    await runs?.close();
  });

  it('`lab reboot --all --queue` is refused at submission: no run, no lock; --skip-broken queues the others', async () => {
    const before = touches();
    const refused = await cli(['reboot', '--all', '--queue'], env);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('lab: refusing to plan all machines: a host could not be read');
    expect(refused.stderr).toContain(`  - vault: ${vaultProblem}\nFix it, or pass --skip-broken`);
    expect(await runs.runs()).toEqual([]);
    expect(await lockHolders(runs, [...machines])).toEqual({ nas: null, web: null, vault: null });

    const result = await cli(['reboot', '--all', '--queue', '--skip-broken', '--json'], env);
    expect(result.exitCode).toBe(0);
    const [queued] = parseEvents(result.stdout) as unknown as Record<string, unknown>[];
    expect(queued).toMatchObject({
      type: 'run.queued',
      steps: [['nas'], ['web']],
      skipped: [{ name: 'vault', reason: vaultProblem }],
    });
    const record = await runs.run(queued?.runId as string);
    expect(record.data.request.skipBroken).toBe(true);
    expect(record.data.skipped).toEqual([{ name: 'vault', reason: vaultProblem }]);
    expect((await finishedState(runs, queued?.runId as string)).status).toBe('succeeded');
    expect(touches().vault).toEqual(before.vault);
    const status = await runLab(['status', queued?.runId as string, '--json'], env);
    expect(JSON.parse(status.stdout).skipped).toEqual([{ name: 'vault', reason: vaultProblem }]);
    expect((await runLab(['status', queued?.runId as string], env)).stdout).toContain(
      `  skipped (could not be read): vault: ${vaultProblem}\n`,
    );
  });

  it('/lab reboot all is refused ephemerally, naming the host and the field; the plan shown skipping it starts', async () => {
    const refused = fake.command(alice, 'reboot', { target: 'all' });
    const refusal = await fake.waitFor(() => refused.followUps[0], 30_000, 'the refusal');
    expect(refusal.flags & 64).toBe(64);
    expect(refusal.content).toBe(
      [
        '⚠️ refusing to plan all machines: a host could not be read, and the plan would leave it out:',
        `  - vault: ${vaultProblem}`,
        'Fix it, or set the skip-broken option to True to go on without it.',
      ].join('\n'),
    );
    const group = fake.command(alice, 'health', { target: '@storage' });
    expect((await fake.waitFor(() => group.followUps[0], 30_000, 'the refusal')).content).toContain(
      `  - vault (in @storage): ${vaultProblem}\n`,
    );
    expect(await runs.runs()).toHaveLength(1); // the queued run of the test before

    const before = touches();
    const sequence = fake.command(alice, 'sequence', { 'skip-broken': true });
    const shown: FakeMessage = await fake.waitFor(
      () => (sequence.original?.embeds.length ? sequence.original : null),
      30_000,
      'the plan',
    );
    expect(shown.embeds[0]?.title).toBe('Reboot sequence: 2 machines in 2 steps');
    expect(shown.embeds[0]?.fields).toContainEqual({
      name: 'Skipped (could not be read)',
      value: `vault: ${vaultProblem}`,
    });
    const start = shown.components[0]?.components[0]?.custom_id as string;
    expect(start).toMatch(/^lab:start-skip-broken:[0-9a-f]{12}:all$/);
    const click = fake.click(alice, shown, start);
    const started = await fake.waitFor(() => click.original?.content, 30_000, 'the start answer');
    expect(started).toMatch(
      new RegExp(
        `^Started reboot run \\w+\\. Skipped \\(could not be read\\): vault \\(${vaultProblem}\\)\\.$`,
      ),
    );
    const runId = started.match(/^Started reboot run (\w+)/)?.[1] as string;
    expect((await finishedState(runs, runId, 90_000)).status).toBe('succeeded');
    expect(stepMachines((await runs.run(runId)).data.state)).toEqual([['nas'], ['web']]);
    expect(touches().vault).toEqual(before.vault);
  });
});

describe('the nightly schedule', () => {
  it('fails its pipeline with the refusal, deploying nothing; LAB_SCHEDULE_SKIP_BROKEN=1 deploys the others', async () => {
    const env = queueEnv({ LAB_SCHEDULE: '*/2 * * * * *', LAB_FLAKE: lab.flake });
    const { runs } = await queueClient(env);
    const logger = memoryLogger();
    let worker: LabWorker | undefined = await startWorker(env, logger);
    try {
      const before = touches();
      const failed = await waitForJob(
        runs,
        (job) => job.name === 'pipeline' && job.failedReason !== undefined,
      );
      expect(failed.failedReason).toBe(
        [
          'refusing to plan all machines: a host could not be read, and the plan would leave it out:',
          `  - vault: ${vaultProblem}`,
          'Fix it, or set LAB_SCHEDULE_SKIP_BROKEN=1 (NixOS: schedule.skipBroken) to go on without it.',
        ].join('\n'),
      );
      await worker.stop();
      worker = undefined;
      expect(
        logger.entries.some(
          (entry) =>
            entry.level === 50 && String(entry.msg).startsWith('the nightly pipeline failed: refusing'),
        ),
      ).toBe(true);
      expect((await runs.runs()).length).toBe(0);
      expect(touches()).toEqual(before);

      worker = await startWorker({ ...env, LAB_SCHEDULE_SKIP_BROKEN: '1' }, logger);
      const deploy = await waitForJob(runs, (job) => job.name === 'run' && job.data.state.kind === 'deploy');
      expect(deploy.data.request).toMatchObject({ source: 'schedule', targets: [], skipBroken: true });
      expect(deploy.data.skipped).toEqual([{ name: 'vault', reason: vaultProblem }]);
      const events = await followRun(runs, deploy.id as string);
      expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
      expect(touches().vault).toEqual(before.vault);
    } finally {
      await worker?.stop();
      await runs.close();
    }
  });
});

/** A worker for the homelab's machines on the test's queue, logging into `logger` if given. */
async function startWorker(env: Record<string, string>, logger = memoryLogger()): Promise<LabWorker> {
  const credentials = await loadSshCredentials(
    { keyPath: lab.keyPath, knownHostsPath: lab.knownHostsPath },
    {},
  );
  return LabWorker.start(queueConfig(env), {
    nix: testNix,
    credentials,
    name: 'test-worker',
    healthIntervalMs: 100,
    log: logger.log,
  });
}

/** The first job of the queue that matches, polled until it appears. */
async function waitForJob(
  runs: RunQueue,
  match: (job: Job<RunJobData>) => boolean,
  timeoutMs = 60_000,
): Promise<Job<RunJobData>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const jobs = (await runs.queue.getJobs([
      'active',
      'delayed',
      'waiting',
      'completed',
      'failed',
    ])) as Job<RunJobData>[];
    const found = jobs.find((job) => job && match(job));
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no matching job appeared within ${timeoutMs} ms`);
}
