/**
 * Benchmarks (not tests) on the simulated homelab: the overhead of an ordered reboot run of 10
 * machines (zero delays, a fixed simulated boot time) against the ideal, how soon lab notices a
 * machine is back, `lab health` of 20 machines, and the peak RSS of `lab serve` idle and during a
 * run. Needs root (Linux namespaces), nix and redis-server. `npm run bench`; see BENCHMARKS.md.
 */
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { queueConfig } from '../../src/orchestration/queue/queue-config.js';
import { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { RunEvent } from '../../src/orchestration/run-events.js';
import type { Homelab } from '../sim/homelab.js';
import { http, startTestHomelab, tcp } from '../support/homelabs.js';
import { startRedisServer } from '../support/redis-server.js';

const quick = process.argv.includes('--quick');
/** The reboot run's machines: the scenario is 5 (`--machines N` for another count). */
const machinesArg = process.argv.indexOf('--machines');
const MACHINES = machinesArg > 0 ? Number(process.argv[machinesArg + 1]) : quick ? 4 : 5;
const HEALTH_MACHINES = quick ? 6 : 20;
const BOOT_MS = 1_000;
const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const nixEnv = { NIX_CONFIG: 'substituters =', LAB_NO_CACHE: '1' };

console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
);
await execa('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });

// 1. An ordered reboot of N machines: total against the ideal, overhead per machine, detection.
{
  const lab = await startTestHomelab(
    Object.fromEntries(
      Array.from({ length: MACHINES }, (_, index) => [
        `m${String(index).padStart(2, '0')}`,
        { role: 'bench', rebootOrder: index, serves: [tcp(8000)] },
      ]),
    ),
    { bootTimeMs: BOOT_MS },
  );
  try {
    // --warm-cache: the evaluation cached as it is after any earlier command on the same flake
    // (what an operator has), instead of a fresh `nix eval` in the measured command.
    const warm = process.argv.includes('--warm-cache');
    const cacheEnv = warm
      ? { NIX_CONFIG: 'substituters =', LAB_CACHE_DIR: join(lab.root, 'lab-cache') }
      : nixEnv;
    if (warm)
      await execa('node', [cli, 'sequence', '--flake', lab.flake], { env: { ...lab.env, ...cacheEnv } });
    const started = Date.now();
    const result = await execa('node', [cli, 'reboot', '--all', '--json', '--flake', lab.flake], {
      env: { ...lab.env, ...cacheEnv },
      reject: false,
    });
    const total = Date.now() - started;
    if (result.exitCode !== 0) throw new Error(`lab reboot failed: ${result.stderr}`);
    const events = result.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as RunEvent);
    const runStarted = Date.parse(events.find((event) => event.type === 'run.started')?.at ?? '');
    let ideal = 0;
    const detection: number[] = [];
    for (const event of events) {
      if (event.type !== 'machine.up') continue;
      const boots = lab.bootLog(event.machine);
      const previous = boots.find((boot) => boot.bootId === event.previousBootId);
      const current = boots.find((boot) => boot.bootId === event.bootId);
      if (!previous?.downAt || !current) continue;
      ideal += current.upAt - previous.downAt;
      detection.push(Date.parse(event.at) - current.upAt);
    }
    for (const event of events) {
      if (event.type === 'machine.health' && event.ok)
        ideal += Math.max(0, ...event.checks.map((check) => check.latencyMs ?? 0));
    }
    const runMs = Date.parse(events.at(-1)?.at ?? '') - runStarted;
    detection.sort((a, b) => a - b);
    console.log(
      `reboot run of ${MACHINES} machines (boot ${BOOT_MS} ms, delays 0): run ${(runMs / 1000).toFixed(2)} s ` +
        `(command ${(total / 1000).toFixed(2)} s with ${warm ? 'the evaluation cached' : 'evaluation'}), ideal ${(ideal / 1000).toFixed(2)} s, ` +
        `overhead per machine ${((runMs - ideal) / MACHINES).toFixed(0)} ms in the run (target ≤ 300), ` +
        `${((total - ideal) / MACHINES).toFixed(0)} ms for the whole process (target ≤ 500); ` +
        `detection median ${detection[Math.floor(detection.length / 2)]} ms, max ${detection.at(-1)} ms (target ≤ 100)`,
    );
    console.log(`where each machine's time goes (median over machines): ${breakdown(events, lab)}`);
  } finally {
    await lab.stop();
  }
}

/**
 * The phases of each machine's reboot, from lab's events and the machine's own records: turn
 * (its step started) → reboot command received → down → sshd accepting again → lab's machine.up
 * → health green → the next step started.
 */
function breakdown(events: RunEvent[], lab: Homelab): string {
  const parts: Record<string, number[]> = {
    'turn→command': [],
    'command→down': [],
    'down→up (boot)': [],
    'up→detected': [],
    'detected→healthy': [],
    'healthy→next turn': [],
  };
  const at = (event: RunEvent | undefined) => Date.parse(event?.at ?? '');
  const steps = events.filter((event) => event.type === 'step.started');
  for (const [index, step] of steps.entries()) {
    if (step.type !== 'step.started') continue;
    const name = step.machines[0] as string;
    const of = (type: RunEvent['type']) =>
      events.find((event) => event.type === type && 'machine' in event && event.machine === name);
    const up = of('machine.up');
    if (up?.type !== 'machine.up') continue;
    const boots = lab.bootLog(name);
    const previous = boots.find((boot) => boot.bootId === up.previousBootId);
    const current = boots.find((boot) => boot.bootId === up.bootId);
    const request = lab.rebootRequests(name).find((r) => r.bootId === up.previousBootId);
    const healthy = events.find(
      (event) => event.type === 'machine.health' && event.machine === name && event.ok,
    );
    const next = steps[index + 1] ?? events.find((event) => event.type === 'run.finished');
    if (!previous?.downAt || !current || !request) continue;
    parts['turn→command']?.push(request.at - at(step));
    parts['command→down']?.push(previous.downAt - request.at);
    parts['down→up (boot)']?.push(current.upAt - previous.downAt);
    parts['up→detected']?.push(at(up) - current.upAt);
    parts['detected→healthy']?.push(at(healthy) - at(up));
    parts['healthy→next turn']?.push(at(next) - at(healthy));
  }
  return Object.entries(parts)
    .map(([part, values]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return `${part} ${sorted[Math.floor(sorted.length / 2)] ?? '?'} ms`;
    })
    .join(', ');
}

// 2. `lab health` of 20 machines, and 3. `lab serve` memory idle and during a run.
if (!process.argv.includes('--reboot-only')) {
  const lab = await startTestHomelab(
    Object.fromEntries(
      Array.from({ length: HEALTH_MACHINES }, (_, index) => [
        `h${String(index).padStart(2, '0')}`,
        { role: 'bench', rebootOrder: index % 4, serves: [tcp(8000), http(8080)] },
      ]),
    ),
    { bootTimeMs: 300 },
  );
  const redis = await startRedisServer();
  try {
    const env = { ...lab.env, ...nixEnv, LAB_FLAKE: lab.flake };
    await execa('node', [cli, 'health', '--flake', lab.flake], { env }); // warm nix's own caches
    const times: number[] = [];
    for (let round = 0; round < 3; round += 1) {
      const started = Date.now();
      await execa('node', [cli, 'health', '--flake', lab.flake], { env });
      times.push(Date.now() - started);
    }
    times.sort((a, b) => a - b);
    console.log(
      `lab health of ${HEALTH_MACHINES} machines (2 checks each, new process, evaluation included): median ${times[1]} ms`,
    );

    const queueEnv = { ...env, REDIS_URL: redis.url, LAB_QUEUE: 'bench' };
    const serve = execa('node', [cli, 'serve'], { env: queueEnv, reject: false, buffer: false });
    const rss = () => {
      const status = readFileSync(`/proc/${serve.pid}/status`, 'utf8');
      const field = (name: string) =>
        Number(status.match(new RegExp(`${name}:\\s+(\\d+) kB`))?.[1] ?? 0) / 1024;
      return { now: field('VmRSS'), peak: field('VmHWM') };
    };
    await new Promise<void>((resolve) => {
      serve.stderr?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve();
      });
    });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const idle = rss();
    const runs = await RunQueue.connect(queueConfig(queueEnv));
    const submitted = await runs.submit({
      kind: 'reboot',
      flake: lab.flake,
      targets: [],
      parallel: 4,
      requestedBy: { id: 'bench', name: 'bench' },
      source: 'cli',
    });
    const blocking = runs.duplicateConnection('bench-follow');
    for await (const event of runs.events.follow(submitted.runId, blocking)) {
      if (event.type === 'run.finished' && event.status !== 'succeeded') throw new Error('the run failed');
    }
    blocking.disconnect();
    await runs.close();
    const after = rss();
    serve.kill('SIGTERM');
    await serve;
    console.log(
      `lab serve: idle RSS ${idle.now.toFixed(0)} MB (target ≤ 150), peak during a reboot run of ${HEALTH_MACHINES} machines ${after.peak.toFixed(0)} MB`,
    );
  } finally {
    await redis.stop();
    await lab.stop();
  }
}
