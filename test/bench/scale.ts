/**
 * Benchmark (not a test): 100 simulated machines in 10 stages of 10, rebooted with --parallel 10
 * by two `lab worker` processes on one Redis. Round 1: both workers up, one run. Round 2: the
 * same, and the worker carrying the run is stopped (SIGTERM) half-way, so the other one finishes
 * it. Checked from the machines' own boot records: every machine rebooted exactly once per round
 * and in order (each stage went down only after every machine of the stage before was back).
 * Measured: wall time (run.started → run.finished) against the ideal (per stage, the slowest
 * machine's own reboot: down → sshd back, plus its health check; and counting its shutdown as its
 * own too, from receiving the reboot command), each worker's RSS, and Redis's memory per finished
 * run. `--detail`: when each stage's reboot commands reached the machines. Needs root, sshd, nix,
 * redis-server. Not in --quick.
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { execa, type ResultPromise } from 'execa';
import { queueConfig } from '../../src/orchestration/queue/queue-config.js';
import { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';
import type { Homelab } from '../sim/homelab.js';
import { startTestHomelab, tcp } from '../support/homelabs.js';
import { startRedisServer } from '../support/redis-server.js';

if (process.argv.includes('--quick')) {
  console.log('scale: skipped with --quick (100 machines; run it in full)');
  process.exit(0);
}
const STAGES = 10;
const PER_STAGE = 10;
const BOOT_MS = 1_000;
const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;

console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${loadavg()
    .map((load) => load.toFixed(1))
    .join(' ')}`,
);
await execa('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });

const names: string[] = [];
const machines: Record<string, { role: string; rebootOrder: number; serves: ReturnType<typeof tcp>[] }> = {};
for (let stage = 0; stage < STAGES; stage += 1)
  for (let index = 0; index < PER_STAGE; index += 1) {
    const name = `s${stage}m${index}`;
    names.push(name);
    machines[name] = { role: 'bench', rebootOrder: stage, serves: [tcp(7000)] };
  }
const startedAt = Date.now();
const lab = await startTestHomelab(machines, { bootTimeMs: BOOT_MS });
console.log(`homelab of ${names.length} machines up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
const redis = await startRedisServer();
const env = {
  ...lab.env,
  REDIS_URL: redis.url,
  LAB_QUEUE: 'scale',
  LAB_FLAKE: lab.flake,
  NIX_CONFIG: 'substituters =',
  LOG_FORMAT: 'json',
  LOG_LEVEL: 'info',
  LAB_LOCK_DURATION_MS: '5000',
};
const workers: ResultPromise[] = [];
const peakRss = new Map<number, number>();
try {
  workers.push(startWorker(), startWorker());
  await Promise.all(workers.map(ready));
  const runs = await RunQueue.connect(queueConfig(env));
  const memory = async () => Number(/used_memory:(\d+)/.exec(await runs.redis.info('memory'))?.[1] ?? 0);
  const sampler = setInterval(sampleRss, 250);
  let before = await memory();
  for (const round of [1, 2]) {
    const since = Date.now();
    const submitted = await runs.submit({
      kind: 'reboot',
      flake: lab.flake,
      targets: [],
      parallel: PER_STAGE,
      requestedBy: { id: 'bench', name: 'bench' },
      source: 'cli',
    });
    const blocking = runs.duplicateConnection('bench-follow');
    const events: RunEvent[] = [];
    let stopped: number | null = null;
    const holder = async () => Number(await runs.redis.hget(`bull:scale:${submitted.runId}`, 'pb'));
    const cpu = workers.map((worker) => cpuSeconds(worker.pid as number));
    const lastCpu = new Map<number, number>();
    const cpuWatch = setInterval(() => {
      for (const worker of workers)
        if (worker.pid) lastCpu.set(worker.pid, cpuSeconds(worker.pid) || (lastCpu.get(worker.pid) ?? 0));
    }, 200);
    for await (const event of runs.events.follow(submitted.runId, blocking)) {
      events.push(event);
      if (round === 2 && event.type === 'step.started' && event.step === STAGES / 2 + 1 && stopped === null) {
        stopped = await holder();
        process.kill(stopped, 'SIGTERM');
      }
    }
    blocking.disconnect();
    const finished = events.at(-1);
    if (finished?.type !== 'run.finished' || finished.status !== 'succeeded')
      throw new Error(`round ${round}: the run did not succeed: ${JSON.stringify(finished)}`);
    clearInterval(cpuWatch);
    const usedCpu = workers.map(
      (worker, index) => (lastCpu.get(worker.pid as number) ?? 0) - (cpu[index] ?? 0),
    );
    // (a worker stopped meanwhile reports what it used until then)
    const check = checkOrder(lab, since);
    const ideal = idealMs(lab, since, events);
    const idealFromCommand = idealMs(lab, since, events, true);
    const at = (type: RunEvent['type']) => Date.parse(events.find((e) => e.type === type)?.at ?? '');
    const wall = at('run.finished') - at('run.started');
    // Let the finished run's last writes land, then what it left in Redis.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const after = await memory();
    const streamLength = await runs.redis.xlen(runs.keys.events(submitted.runId));
    const streamBytes = Number(await runs.redis.memory('USAGE', runs.keys.events(submitted.runId)));
    console.log(
      `round ${round}${stopped ? ` (worker ${stopped} stopped with SIGTERM at step ${STAGES / 2 + 1}; the other finished)` : ''}: ` +
        `${check}; wall ${(wall / 1000).toFixed(2)} s, ideal ${(ideal / 1000).toFixed(2)} s: ` +
        `${((wall / ideal - 1) * 100).toFixed(1)} % above (target ≤ 10 %); ` +
        `counting the machines' shutdown as theirs (reboot command received → sshd back) ideal ${(idealFromCommand / 1000).toFixed(2)} s: ` +
        `${((wall / idealFromCommand - 1) * 100).toFixed(1)} % above; ` +
        `worker CPU ${usedCpu.map((s) => `${s.toFixed(1)} s`).join(' / ')}; ` +
        `Redis +${((after - before) / 2 ** 20).toFixed(2)} MiB for the finished run ` +
        `(its event stream: ${streamLength} events, ${(streamBytes / 2 ** 20).toFixed(2)} MiB)`,
    );
    before = after;
    console.log(`  per stage (median of ${STAGES}): ${stageBreakdown(lab, since, events)}`);
    const data = await runs.redis.hget(`bull:scale:${submitted.runId}`, 'data');
    console.log(
      `  the run's job data (its checkpointed state): ${((data?.length ?? 0) / 1024).toFixed(0)} KiB`,
    );
    if (stopped !== null) {
      const index = workers.findIndex((worker) => worker.pid === stopped);
      await workers[index];
      workers[index] = startWorker();
      await ready(workers[index] as ResultPromise);
    }
  }
  clearInterval(sampler);
  sampleRss();
  console.log(
    `worker peak RSS (VmHWM): ${[...peakRss.entries()].map(([pid, mb]) => `${pid} ${mb.toFixed(0)} MB`).join(', ')} (target ≤ 150 MB)`,
  );
  await runs.close();
} finally {
  for (const worker of workers) worker.kill('SIGTERM');
  await Promise.allSettled(workers);
  await redis.stop();
  await lab.stop();
}

function startWorker(): ResultPromise {
  return execa('node', [cli, 'worker'], { env, reject: false, buffer: false, stdout: 'ignore' });
}

function ready(worker: ResultPromise): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    worker.stderr?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('ready')) resolve();
    });
    worker.then(() => reject(new Error(`worker exited: ${text}`)));
  });
}

function sampleRss(): void {
  for (const worker of workers) {
    if (worker.pid === undefined) continue;
    try {
      const status = readFileSync(`/proc/${worker.pid}/status`, 'utf8');
      const peak = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
      peakRss.set(worker.pid, Math.max(peakRss.get(worker.pid) ?? 0, peak));
    } catch {
      // exited
    }
  }
}

function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** From the machines' boot records: each rebooted once since `since`, stage after stage. */
function checkOrder(homelab: Homelab, since: number): string {
  const problems: string[] = [];
  const outages = new Map<string, { down: number; up: number }>();
  for (const name of names) {
    const boots = homelab.bootLog(name);
    const downs = boots.filter((boot) => boot.downAt !== null && boot.downAt >= since);
    if (downs.length !== 1) problems.push(`${name} went down ${downs.length} times`);
    const index = boots.indexOf(downs[0] as (typeof boots)[number]);
    const next = boots[index + 1];
    if (downs[0]?.downAt && next) outages.set(name, { down: downs[0].downAt, up: next.upAt });
    const requests = homelab.rebootRequests(name).filter((request) => request.at >= since);
    if (requests.length !== 1) problems.push(`${name} received ${requests.length} reboot commands`);
  }
  for (let stage = 1; stage < STAGES; stage += 1) {
    const previousUp = Math.max(...stageNames(stage - 1).map((name) => outages.get(name)?.up ?? Infinity));
    const firstDown = Math.min(...stageNames(stage).map((name) => outages.get(name)?.down ?? -Infinity));
    if (!(firstDown > previousUp))
      problems.push(`stage ${stage} went down before stage ${stage - 1} was back`);
  }
  return problems.length === 0
    ? `every machine rebooted exactly once, stage after stage (from their boot records)`
    : `PROBLEMS: ${problems.slice(0, 5).join('; ')}`;
}

/**
 * Where a stage's time goes (medians over the stages): step.started → its last reboot command
 * received; that → its last machine down; → its last sshd back (the machines' boot); → lab's last
 * machine.up; → its last health green; → the next step.started.
 */
function stageBreakdown(homelab: Homelab, since: number, events: RunEvent[]): string {
  const parts: Record<string, number[]> = {
    'turn→last command': [],
    '→last down': [],
    '→last sshd back': [],
    '→last detected': [],
    '→last healthy': [],
    '→next turn': [],
  };
  const at = (event: RunEvent | undefined) => Date.parse(event?.at ?? '');
  const steps = events.filter((event) => event.type === 'step.started');
  for (let stage = 0; stage < STAGES; stage += 1) {
    const stageMachines = stageNames(stage);
    const last = (values: number[]) => Math.max(...values);
    const mine = (type: RunEvent['type']) =>
      events.filter((e) => e.type === type && 'machine' in e && stageMachines.includes(e.machine as string));
    const records = stageMachines.map((name) => {
      const boots = homelab.bootLog(name);
      const index = boots.findIndex((boot) => boot.downAt !== null && boot.downAt >= since);
      return {
        request: homelab.rebootRequests(name).find((r) => r.at >= since)?.at ?? 0,
        down: boots[index]?.downAt ?? 0,
        up: boots[index + 1]?.upAt ?? 0,
      };
    });
    // A run handed over announces its step again: the turn is the last announcement of the step.
    const turn = at(
      steps.filter((event) => event.type === 'step.started' && event.step === stage + 1).at(-1),
    );
    const command = last(records.map((r) => r.request));
    const down = last(records.map((r) => r.down));
    const up = last(records.map((r) => r.up));
    const detected = last(mine('machine.up').map(at));
    const healthy = last(
      mine('machine.health')
        .filter((e) => e.type === 'machine.health' && e.ok)
        .map(at),
    );
    const next = at(
      steps.find((event) => event.type === 'step.started' && event.step === stage + 2) ??
        events.find((e) => e.type === 'run.finished'),
    );
    parts['turn→last command']?.push(command - turn);
    if (process.argv.includes('--detail'))
      console.log(
        `stage ${stage}: commands at +${records
          .map((r) => r.request - turn)
          .sort((a, b) => a - b)
          .join(',')} ms; ` +
          `rebooting events at +${mine('machine.rebooting')
            .map((e) => at(e) - turn)
            .sort((a, b) => a - b)
            .join(',')}`,
      );
    parts['→last down']?.push(down - command);
    parts['→last sshd back']?.push(up - down);
    parts['→last detected']?.push(detected - up);
    parts['→last healthy']?.push(healthy - detected);
    parts['→next turn']?.push(next - healthy);
  }
  return Object.entries(parts)
    .map(([part, values]) => `${part} ${[...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]} ms`)
    .join(', ');
}

function stageNames(stage: number): string[] {
  return names.slice(stage * PER_STAGE, (stage + 1) * PER_STAGE);
}

/** Per stage, the slowest machine: down → sshd back (its own records) plus its health check's latency. */
/**
 * The ideal: per stage, the slowest machine's own time, from going down (or, with `fromCommand`,
 * from receiving its reboot command: its shutdown is its own time too) to its sshd accepting
 * again, plus its health check's latency.
 */
function idealMs(homelab: Homelab, since: number, events: RunEvent[], fromCommand = false): number {
  let total = 0;
  for (let stage = 0; stage < STAGES; stage += 1) {
    let slowest = 0;
    for (const name of stageNames(stage)) {
      const boots = homelab.bootLog(name);
      const index = boots.findIndex((boot) => boot.downAt !== null && boot.downAt >= since);
      const down = fromCommand
        ? (homelab.rebootRequests(name).find((request) => request.at >= since)?.at ?? 0)
        : (boots[index]?.downAt ?? 0);
      const up = boots[index + 1]?.upAt ?? 0;
      const health = events.find((e) => e.type === 'machine.health' && e.machine === name && e.ok);
      const latency =
        health?.type === 'machine.health' ? Math.max(0, ...health.checks.map((c) => c.latencyMs ?? 0)) : 0;
      slowest = Math.max(slowest, up - down + latency);
    }
    total += slowest;
  }
  return total;
}
