import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { RunRequestInput } from '../../src/orchestration/queue/run-request.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';
import type { Homelab } from '../sim/homelab.js';
import { repoRoot } from '../support/flake-fixtures.js';
import { homelabs, standardMachines, startTestHomelab, tcp } from '../support/homelabs.js';
import { jsonLogEntries } from '../support/memory-logger.js';
import { systemsOf } from '../support/on-machine.js';
import { followRun, queueClient, queueEnv } from '../support/queue.js';
import { eventsOf, parseEvents } from '../support/run-events.js';

/**
 * Crash safety with real `lab worker` processes: a worker is killed (SIGKILL) in each phase of a
 * run, another takes the run over (BullMQ's stalled-job check, after the lock expires) and
 * finishes it. Exactly-once is judged by the machines' own records: their boot logs, the reboot
 * commands they received and the activations they ran.
 */

const LOCK_MS = 1000;
/** Longer than any run here takes, short enough to fail in time. */
const FOLLOW_MS = 40_000;
const cli = { id: 'cli:crash-test', name: 'crash-test' };

let lab: Homelab;
const started: Worker[] = [];
/** Other processes started by a test (`lab reboot`), killed after it. */
const commands: ResultPromise[] = [];
const clients: RunQueue[] = [];

beforeAll(async () => {
  lab = await startTestHomelab(
    {
      ...homelabs.threeTier,
      web: { ...standardMachines.web, orchestration: { rebootDelay: 1 } },
      cache: {
        role: 'cache',
        rebootOrder: 1,
        serves: [tcp(6379)],
        orchestration: { deployStrategy: 'rolling' },
      },
    },
    { bootTimeMs: 300 },
  );
});

afterEach(async (context) => {
  const workers = started.splice(0);
  await Promise.all(workers.map((worker) => worker.kill('SIGKILL')));
  for (const command of commands.splice(0)) {
    if (command.exitCode === null && command.signalCode === null) command.kill('SIGKILL');
    await command.catch(() => {});
  }
  if (context.task.result?.state === 'fail') {
    for (const worker of workers) console.error(`worker ${worker.pid}:\n${worker.stderr}`);
    for (const name of ['nas', 'db', 'web', 'cache'])
      console.error(name, {
        boots: lab.bootLog(name),
        reboots: lab.rebootRequests(name),
        activations: lab.activations(name),
        up: lab.machine(name).isUp,
        console: readFileSync(join(lab.machine(name).dir, 'console.log'), 'utf8').slice(-2000),
      });
  }
  await Promise.all(clients.splice(0).map((runs) => runs.close()));
  for (const name of ['nas', 'db', 'web', 'cache']) {
    lab?.machine(name).setDelays({ activationMs: 0, servicesMs: 0, shutdownMs: 0, rebootCommandMs: 0 });
    lab?.machine(name).setFaults([]);
  }
});

afterAll(async () => {
  await lab?.stop();
});

/** A `lab worker` process of the real binary. */
class Worker {
  private stderrText = '';
  readonly exited: Promise<{ exitCode?: number; signal?: string }>;

  private constructor(private readonly child: ResultPromise) {
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrText += chunk.toString();
    });
    this.exited = child.then((result) => ({ exitCode: result.exitCode, signal: result.signal }));
  }

  static async start(env: Record<string, string>): Promise<Worker> {
    const child = execa('node', [join(repoRoot, 'dist/cli/main.js'), 'worker'], {
      env,
      reject: false,
      stdin: 'ignore',
    });
    const worker = new Worker(child);
    started.push(worker);
    // Its log is JSON: stderr is not a terminal.
    const ready = () =>
      jsonLogEntries(worker.stderr).some(
        (entry) => entry.name === 'lab worker' && String(entry.msg).startsWith('ready'),
      );
    await expect
      .poll(() => ready() || /error/i.test(worker.stderr), { timeout: 20_000, interval: 20 })
      .toBe(true);
    if (!ready()) throw new Error(`lab worker did not start: ${worker.stderr}`);
    return worker;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get stderr(): string {
    return this.stderrText;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGSTOP / SIGCONT: the process stops (as on a suspended laptop) or goes on. */
  freeze(frozen: boolean): void {
    this.child.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  async kill(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}

interface Scene {
  env: Record<string, string>;
  runs: RunQueue;
  workers: Worker[];
}

/** A queue of its own, `count` workers on it, and a client. */
async function scene(count: number, extra: Record<string, string> = {}): Promise<Scene> {
  const env = { ...queueEnv({ LAB_LOCK_DURATION_MS: String(LOCK_MS), ...extra }), ...lab.env };
  const workers = await Promise.all(Array.from({ length: count }, () => Worker.start(env)));
  const { runs } = await queueClient(env);
  clients.push(runs);
  return { env, runs, workers };
}

function submit(runs: RunQueue, request: Omit<RunRequestInput, 'flake' | 'requestedBy' | 'source'>) {
  return runs.submit({ flake: lab.flake, requestedBy: cli, source: 'cli', ...request });
}

/** The worker whose job the run is now (BullMQ's processedBy is the worker's name: its pid). */
async function holder(scene: Scene, runId: string): Promise<Worker> {
  const job = await scene.runs.job(runId);
  const worker = scene.workers.find((candidate) => String(candidate.pid) === job?.processedBy);
  if (!worker) throw new Error(`run ${runId} is held by ${job?.processedBy}, not by a worker of this test`);
  return worker;
}

/** Waits for the event (and `until`), then SIGKILLs the worker that carries the run; returns when. */
async function killAt(
  scene: Scene,
  runId: string,
  at: (event: RunEvent) => boolean,
  until?: () => boolean,
): Promise<number> {
  let reached = false;
  const events = await followRun(
    scene.runs,
    runId,
    (event) => {
      reached = at(event);
      return reached || event.type === 'run.finished';
    },
    FOLLOW_MS,
  );
  if (!reached) throw new Error(`the run finished before the kill: ${summary(events)}`);
  if (until) await expect.poll(until, { timeout: 10_000, interval: 10 }).toBe(true);
  const worker = await holder(scene, runId);
  await worker.kill('SIGKILL');
  return Date.now();
}

/** The events, briefly, for a failure message. */
const summary = (events: RunEvent[]) =>
  events
    .map((event) => {
      if (event.type === 'machine.failed')
        return `${event.type} ${event.machine} ${event.phase}: ${event.reason}`;
      return 'machine' in event ? `${event.type} ${event.machine}` : event.type;
    })
    .join(', ');

/** Follows the run to its end: it succeeded, its job completed (not failed by the stalled limit). */
async function succeeded(scene: Scene, runId: string): Promise<RunEvent[]> {
  const events = await followRun(scene.runs, runId, undefined, FOLLOW_MS);
  expect(events.at(-1), summary(events)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
  await expect
    .poll(async () => (await scene.runs.run(runId)).jobState, { timeout: 10_000 })
    .toBe('completed');
  const job = await scene.runs.job(runId);
  expect(job?.failedReason).toBeFalsy();
  expect(job?.data.state.status).toBe('succeeded');
  return events;
}

/** How often BullMQ found the run's job stalled (its worker gone) and gave it to another. */
async function stalls(scene: Scene, runId: string): Promise<number> {
  return Number((await scene.runs.redis.hget(scene.runs.queue.toKey(runId), 'stc')) ?? 0);
}

/** The machine's boots and reboot commands since `since` (ms). */
function rebootsSince(name: string, since: number) {
  return {
    boots: lab.bootLog(name).filter((boot) => boot.upAt > since),
    commands: lab.rebootRequests(name).filter((request) => request.at > since),
  };
}

function expectRebootedOnce(name: string, since: number): void {
  const { boots, commands } = rebootsSince(name, since);
  expect(boots, `boots of ${name}`).toHaveLength(1);
  expect(commands, `reboot commands ${name} received`).toHaveLength(1);
}

describe('a worker killed (SIGKILL) in the middle of a reboot run', () => {
  it('before the reboot command (in its rebootDelay): another worker sends it, once', async () => {
    const s = await scene(2);
    const since = Date.now();
    const { runId } = await submit(s.runs, { kind: 'reboot', targets: ['web'] });
    const killedAt = await killAt(
      s,
      runId,
      (event) => event.type === 'machine.waiting' && event.machine === 'web',
    );
    expect(lab.rebootRequests('web').filter((request) => request.at > since)).toEqual([]);
    await succeeded(s, runId);
    expect(await stalls(s, runId)).toBeGreaterThanOrEqual(1);
    expectRebootedOnce('web', since);
    expect(lab.rebootRequests('web').at(-1)?.at).toBeGreaterThan(killedAt);
  });

  it('as the machine got the reboot command and is still shutting down: it is not sent again', async () => {
    const s = await scene(2);
    const since = Date.now();
    // Slower to go down than another worker is to take over: it still answers, with the old boot
    // id. And its reboot command takes a while to return: the worker is killed before it knows.
    lab.machine('db').setDelays({ shutdownMs: 4 * LOCK_MS, rebootCommandMs: 2 * LOCK_MS });
    const { runId } = await submit(s.runs, { kind: 'reboot', targets: ['db'] });
    const killedAt = await killAt(
      s,
      runId,
      (event) => event.type === 'machine.rebooting' && event.machine === 'db',
      () => rebootsSince('db', since).commands.length > 0,
    );
    await succeeded(s, runId);
    expect(await stalls(s, runId)).toBeGreaterThanOrEqual(1);
    expectRebootedOnce('db', since);
    expect(lab.bootLog('db').at(-2)?.downAt).toBeGreaterThan(killedAt);
  });

  it('while waiting for the machine to come back', async () => {
    const s = await scene(2);
    const since = Date.now();
    lab.machine('nas').setFaults(['slow-boot']); // 3 s down
    const { runId } = await submit(s.runs, { kind: 'reboot', targets: ['nas'] });
    const killedAt = await killAt(s, runId, (event) => event.type === 'machine.down');
    const events = await succeeded(s, runId);
    expect(await stalls(s, runId)).toBeGreaterThanOrEqual(1);
    expectRebootedOnce('nas', since);
    expect(lab.bootLog('nas').at(-1)?.upAt).toBeGreaterThan(killedAt);
    expect(eventsOf(events, 'machine.up')).toHaveLength(1);
  });

  it('during its health checks', async () => {
    const s = await scene(2);
    const since = Date.now();
    lab.machine('nas').setDelays({ servicesMs: 4 * LOCK_MS });
    const { runId } = await submit(s.runs, { kind: 'reboot', targets: ['nas'] });
    const killedAt = await killAt(s, runId, (event) => event.type === 'machine.health' && !event.ok);
    const events = await succeeded(s, runId);
    expect(await stalls(s, runId)).toBeGreaterThanOrEqual(1);
    expectRebootedOnce('nas', since);
    const healthy = events.find((event) => event.type === 'machine.health' && event.ok);
    expect(Date.parse(healthy?.at ?? '')).toBeGreaterThan(killedAt);
  });
});

describe('a worker killed (SIGKILL) during a deploy activation', () => {
  it('does not activate the new system twice, and finishes the deploy', async () => {
    const s = await scene(2);
    await lab.configure('cache', {
      services: [
        { type: 'tcp', port: 6379 },
        { type: 'tcp', port: 6380 },
      ],
    });
    lab.machine('cache').setDelays({ activationMs: 3 * LOCK_MS });
    const since = Date.now();
    const { runId } = await submit(s.runs, { kind: 'deploy', targets: ['cache'] });
    // Killed while switch-to-configuration runs on the machine.
    const killedAt = await killAt(
      s,
      runId,
      (event) => event.type === 'machine.activating',
      () => lab.activations('cache').some((record) => record.event === 'start' && record.at > since),
    );
    const events = await succeeded(s, runId);
    expect(await stalls(s, runId)).toBeGreaterThanOrEqual(1);
    const system = eventsOf(events, 'deploy.built')[0]?.systems.cache as string;
    const activations = lab.activations('cache').filter((record) => record.system === system);
    expect(activations.map((record) => `${record.event} ${record.action}`)).toEqual([
      'start switch',
      'done switch',
    ]);
    expect(activations[1]?.at).toBeGreaterThan(killedAt);
    // systemd is PID 1 there: one transient unit, named by the activation, which the second
    // worker waited for instead of starting another.
    const units = lab.units('cache').filter((unit) => unit.at >= since);
    expect(units.map((unit) => [unit.event, unit.status])).toEqual([
      ['start', null],
      ['exit', 0],
    ]);
    expect(units[0]?.unit).toMatch(new RegExp(`^lab-activation-${runId}-[\\w-]+\\.service$`));
    expect(await systemsOf(lab, 'cache')).toEqual({ current: system, profile: system });
  });
});

describe('a worker frozen (SIGSTOP) for longer than its lock, as on a suspended laptop', () => {
  it('loses the run to another worker; thawed, it writes nothing and reboots nothing more', async () => {
    const s = await scene(2);
    const since = Date.now();
    lab.machine('nas').setFaults(['slow-boot']);
    const { runId } = await submit(s.runs, { kind: 'reboot', targets: ['nas', 'db'] });
    await followRun(s.runs, runId, (event) => event.type === 'machine.down', FOLLOW_MS);
    const frozen = await holder(s, runId);
    frozen.freeze(true);
    // The other worker takes the run over and finishes it: nas back, then db rebooted.
    await succeeded(s, runId);
    expect((await s.runs.job(runId))?.processedBy).not.toBe(String(frozen.pid));
    // Thawed, the frozen worker still believes it waits for nas; once nas is back it would go on
    // to db. It finds that the run is not its own any more at its first write, and stops there.
    frozen.freeze(false);
    await expect
      .poll(() => frozen.stderr, { timeout: 10_000, interval: 50 })
      .toContain(`run ${runId}: its job's lock was lost to another worker; stopping here`);
    const events = await s.runs.events.read(runId);
    expect(events.filter((event) => event.type === 'run.finished')).toHaveLength(1);
    expect(events.at(-1)?.type).toBe('run.finished');
    expectRebootedOnce('nas', since);
    expectRebootedOnce('db', since);
    expect(frozen.running).toBe(true);
  });
});

describe('a worker stopped with SIGTERM', () => {
  it('exits 0 promptly with the run parked; another worker finishes it, rebooting once', async () => {
    const s = await scene(1);
    const since = Date.now();
    lab.machine('nas').setFaults(['slow-boot']);
    const { runId } = await submit(s.runs, { kind: 'reboot', targets: ['nas'] });
    await followRun(s.runs, runId, (event) => event.type === 'machine.down');
    const [worker] = s.workers as [Worker];
    const stopping = Date.now();
    await worker.kill('SIGTERM');
    expect(await worker.exited).toEqual({ exitCode: 0, signal: undefined });
    expect(Date.now() - stopping).toBeLessThan(5_000);
    expect(jsonLogEntries(worker.stderr)).toContainEqual(
      expect.objectContaining({
        level: 'info',
        signal: 'SIGTERM',
        msg: 'SIGTERM: parking running runs and stopping',
      }),
    );
    const parked = await s.runs.run(runId);
    expect(['delayed', 'waiting']).toContain(parked.jobState);
    expect(parked.data.state.status).toBe('running');

    s.workers.push(await Worker.start(s.env));
    await succeeded(s, runId);
    expectRebootedOnce('nas', since);
  });
});

describe('done when', () => {
  it('`lab reboot --all --queue` is carried out by lab workers, surviving one being killed', async () => {
    const s = await scene(2);
    const since = Date.now();
    const command = execa(
      'node',
      [join(repoRoot, 'dist/cli/main.js'), 'reboot', '--all', '--queue', '--json', '-f', lab.flake],
      { env: s.env, reject: false, stdin: 'ignore' },
    );
    commands.push(command);
    let stdout = '';
    command.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    await expect.poll(() => stdout, { timeout: 30_000, interval: 20 }).toContain('"run.queued"');
    const queued = JSON.parse(stdout.split('\n')[0] as string) as { runId: string };
    // Mid-run: the second machine is down.
    let down = 0;
    await killAt(s, queued.runId, (event) => event.type === 'machine.down' && ++down === 2);
    await expect.poll(() => stdout, { timeout: FOLLOW_MS, interval: 50 }).toContain('"run.finished"');
    // Once the run is over the command is done: it exits (it must not hang on a connection).
    await expect
      .poll(() => command.exitCode ?? command.signalCode, {
        timeout: 10_000,
        interval: 50,
        message: '`lab reboot --queue` printed run.finished but did not exit',
      })
      .not.toBeNull();
    const result = await command;
    expect(result.exitCode, result.stderr).toBe(0);
    const events = parseEvents(result.stdout).slice(1) as RunEvent[];
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    for (const name of ['nas', 'db', 'web', 'cache']) expectRebootedOnce(name, since);
  });
});
