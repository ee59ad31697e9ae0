/**
 * Benchmark (not a test): a rolling deploy of 6 simulated machines whose closures are large
 * enough, on links slow enough, that copying dominates. Each machine gets its own link shaped
 * with `tc` (an htb class per machine, on the loopback of a network namespace this benchmark makes,
 * so nothing outside it is shaped). The same homelab is deployed twice in this run: serial copies
 * (LAB_COPY_CONCURRENCY=0: each closure at its machine's turn) and copies ahead
 * (LAB_COPY_CONCURRENCY=4), each against the ideal max(copy) + Σ(activate + gate). Needs root,
 * unshare, tc (iproute2), sshd and nix. `npm run bench`; results in BENCHMARKS.md.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { execa } from 'execa';
import type { RunEvent } from '../../src/orchestration/run-events.js';
import { type Homelab, SIM_NIX_CONF } from '../sim/homelab.js';
import { startTestHomelab, tcp } from '../support/homelabs.js';

const quick = process.argv.includes('--quick');
const MACHINES = quick ? 3 : 6;
/** MiB of incompressible data in each machine's closure. */
const PAYLOAD_MIB = quick ? 2 : 16;
/** Each machine's link (lab → machine). */
const RATE = quick ? '64mbit' : '32mbit';
const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;

// Run inside a network namespace of our own: its loopback is ours to shape.
if (process.env.BENCH_NETNS !== '1') {
  const result = await execa(
    'unshare',
    ['--net', '--', process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { env: { ...process.env, BENCH_NETNS: '1' }, stdio: 'inherit', reject: false },
  );
  process.exit(result.exitCode ?? 1);
}

console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${loadavg()
    .map((load) => load.toFixed(1))
    .join(' ')}`,
);
await execa('ip', ['link', 'set', 'lo', 'up']);
await execa('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });

const names = Array.from({ length: MACHINES }, (_, index) => `d${index + 1}`);
const lab = await startTestHomelab(
  Object.fromEntries(
    names.map((name, index) => [
      name,
      {
        role: 'bench',
        rebootOrder: index + 1,
        serves: [tcp(7000)],
        orchestration: { deployStrategy: 'rolling' },
      },
    ]),
  ),
);
try {
  await shapeLinks(lab);
  // Serial first, then ahead with the default bound, then with every later machine at once.
  const runs: [string, DeployResult][] = [];
  for (const concurrency of quick ? ['0', '4'] : ['0', '4', String(MACHINES - 1)])
    runs.push([concurrency, await deployAll(lab, concurrency)]);
  for (const [concurrency, result] of runs) {
    const label = concurrency === '0' ? 'serial copies' : 'copies ahead';
    console.log(
      `${label} (LAB_COPY_CONCURRENCY=${concurrency}): deploy ${s(result.deployMs)} (built → finished), ` +
        `max(copy) ${s(result.maxCopyMs)}, Σ(copy) ${s(result.sumCopyMs)}, Σ(activate + gate) ${s(result.sumGatedMs)}; ` +
        `ideal max(copy) + Σ(activate + gate) ${s(result.idealMs)}: ` +
        `${((result.deployMs / result.idealMs - 1) * 100).toFixed(1)} % above (target ≤ 10 %); ` +
        `waited at turns for copies ${s(result.waitedMs)}, between turns (systems read) ${s(result.betweenMs)}`,
    );
  }
  const serial = runs[0]?.[1] as DeployResult;
  console.log(`each copy alone on its link: ${serial.copies.map((ms) => s(ms)).join(', ')}`);
} finally {
  await lab.stop();
}

function s(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/**
 * Each machine's own link: an htb class at RATE chosen by destination address (lab → machine,
 * the direction closures travel). This kernel has no netem (no added delay): rate only.
 */
async function shapeLinks(homelab: Homelab): Promise<void> {
  const tc = (line: string) => execa('tc', line.split(' '));
  await tc('qdisc add dev lo root handle 1: htb default 99');
  await tc('class add dev lo parent 1: classid 1:99 htb rate 10gbit');
  for (const [index, name] of names.entries()) {
    const id = `1:${10 + index}`;
    await tc(`class add dev lo parent 1: classid ${id} htb rate ${RATE} ceil ${RATE}`);
    const address = homelab.machine(name).address;
    await tc(`filter add dev lo protocol ip parent 1: prio 1 u32 match ip dst ${address}/32 flowid ${id}`);
  }
  console.log(
    `links: ${MACHINES} × ${RATE} (tc htb on the namespace's loopback); closures ${PAYLOAD_MIB} MiB of random data each`,
  );
}

interface DeployResult {
  deployMs: number;
  /** Per machine, in run order: how long its copy took. */
  copies: number[];
  maxCopyMs: number;
  sumCopyMs: number;
  sumGatedMs: number;
  idealMs: number;
  /** Σ over machines: from its turn's copy event to its activation (waiting for its copy). */
  waitedMs: number;
  /** Σ over machines: from the machine before it (or the build) to its copy event. */
  betweenMs: number;
}

/** A new generation of every machine (a fresh payload), deployed with LAB_COPY_CONCURRENCY. */
async function deployAll(homelab: Homelab, copyConcurrency: string): Promise<DeployResult> {
  for (const name of names) await homelab.configure(name, { payloadMiB: PAYLOAD_MIB });
  const result = await execa(
    'node',
    [cli, 'deploy', '--all', '--yes', '--json', '--flake', homelab.flake, '--nix-option', 'substituters='],
    {
      env: {
        ...homelab.env,
        NIX_CONFIG: 'substituters =',
        NIX_USER_CONF_FILES: SIM_NIX_CONF,
        LAB_NO_CACHE: '1',
        LAB_COPY_CONCURRENCY: copyConcurrency,
      },
      reject: false,
    },
  );
  if (result.exitCode !== 0)
    throw new Error(
      `lab deploy failed (${result.exitCode}): ${result.stderr}\n${result.stdout.split('\n').slice(-5).join('\n')}`,
    );
  const events = result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as RunEvent);
  const at = (event: RunEvent | undefined) => Date.parse(event?.at ?? '');
  const of = (type: RunEvent['type'], machine?: string) =>
    events.find(
      (event) =>
        event.type === type && (machine === undefined || ('machine' in event && event.machine === machine)),
    );
  const copies: number[] = [];
  let sumGatedMs = 0;
  let waitedMs = 0;
  let betweenMs = 0;
  let previous = at(of('deploy.built'));
  for (const name of names) {
    const copying = of('machine.copying', name) as Extract<RunEvent, { type: 'machine.copying' }>;
    const activating = at(of('machine.activating', name));
    const began = copying.copyStartedAt ? Date.parse(copying.copyStartedAt) : at(copying);
    const ended = copying.copiedAt ? Date.parse(copying.copiedAt) : activating;
    copies.push(ended - began);
    sumGatedMs += at(of('machine.succeeded', name)) - activating;
    waitedMs += activating - at(copying);
    betweenMs += at(copying) - previous;
    previous = at(of('machine.succeeded', name));
  }
  const deployMs = at(of('run.finished')) - at(of('deploy.built'));
  const maxCopyMs = Math.max(...copies);
  return {
    deployMs,
    copies,
    maxCopyMs,
    sumCopyMs: copies.reduce((sum, ms) => sum + ms, 0),
    sumGatedMs,
    idealMs: maxCopyMs + sumGatedMs,
    waitedMs,
    betweenMs,
  };
}
