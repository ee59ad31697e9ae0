import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkMachine, waitUntilHealthy } from '../../src/domain/health/check-machine.js';
import { loadInventory } from '../../src/domain/inventory/load-inventory.js';
import type { Inventory, Machine } from '../../src/domain/inventory/schema.js';
import { loadSshCredentials } from '../../src/transport/ssh/ssh-credentials.js';
import { SshPool } from '../../src/transport/ssh/ssh-pool.js';
import type { Homelab } from '../sim/homelab.js';
import { testNix } from '../support/flake-fixtures.js';
import { http, startTestHomelab, tcp } from '../support/homelabs.js';
import { runLab } from '../support/run-cli.js';

let lab: Homelab;
let inventory: Inventory;
let pool: SshPool;
const machine = (name: string) => inventory.machines.find((m) => m.name === name) as Machine;

beforeAll(async () => {
  lab = await startTestHomelab({
    web: {
      role: 'web',
      rebootOrder: 1,
      serves: [http(80), tcp(5432)],
      checks: [{ type: 'command', command: 'test "$(hostname)" = \'web\'' }],
    },
    api: {
      role: 'api',
      rebootOrder: 1,
      serves: [http(8080, { status: 204 })],
      // Checks that fail: a path it does not serve, a service it does not run, commands that fail.
      checks: [
        { type: 'http', url: 'http://localhost:8080/missing' },
        { type: 'tcp', port: 6379, timeout: 2 },
        { type: 'command', command: 'echo disk full >&2; exit 1' },
        { type: 'command', command: 'sleep 10', timeout: 1 },
      ],
    },
    bare: { role: 'none', rebootOrder: 2 },
  });
  inventory = await loadInventory({ flake: lab.flake, nix: testNix });
  pool = new SshPool(await loadSshCredentials({}, { ...lab.env, HOME: lab.root }));
});

afterAll(async () => {
  await pool?.closeAll();
  await lab?.stop();
});

describe('health checks from the machine itself', () => {
  it('passes http, tcp and command checks, each with its latency', async () => {
    const health = await checkMachine(pool, machine('web'));
    expect(health).toMatchObject({ machine: 'web', reachable: true, ok: true, error: null });
    expect(health.checks.map((check) => [check.name, check.ok, check.error])).toEqual([
      ['http http://localhost:80/health', true, null],
      ['tcp 5432', true, null],
      ['command test "$(hostname)" = \'web\'', true, null],
    ]);
    for (const check of health.checks) expect(check.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('fails each kind of check with its reason, running them concurrently', async () => {
    const started = Date.now();
    const health = await checkMachine(pool, machine('api'));
    expect(health.ok).toBe(false);
    expect(health.checks.map((check) => [check.name, check.ok, check.error])).toEqual([
      ['http http://localhost:8080/health', true, null],
      ['http http://localhost:8080/missing', false, 'HTTP 404, expected 2xx'],
      ['tcp 6379', false, expect.stringMatching(/connection to localhost:6379 failed: .*refused/i)],
      ['command echo disk full >&2; exit 1', false, 'exit code 1: disk full'],
      ['command sleep 10', false, 'did not finish within 1 s'],
    ]);
    // Concurrent: the slowest check (1 s timeout) bounds the whole machine.
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('reports an unreachable machine instead of throwing', async () => {
    const gone = { ...machine('web'), name: 'gone', ssh: { ...machine('web').ssh, port: 2299 } };
    const health = await checkMachine(pool, gone);
    expect(health).toMatchObject({ machine: 'gone', reachable: false, ok: false, checks: [] });
    expect(health.error).toContain('gone (root@');
    expect(health.error).toContain('is unreachable: connection refused');
  });

  it('retries until green or the deadline', async () => {
    const attempts: number[] = [];
    const failing = await waitUntilHealthy(() => checkMachine(pool, machine('api')), {
      deadline: Date.now() + 1500,
      intervalMs: 100,
      onAttempt: (_health, attempt) => attempts.push(attempt),
    });
    expect(failing.ok).toBe(false);
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    const green = await waitUntilHealthy(() => checkMachine(pool, machine('web')), {
      deadline: Date.now() + 5000,
    });
    expect(green.ok).toBe(true);
  });
});

describe('lab health', () => {
  const args = () => ['--flake', lab.flake, '--nix-option', 'substituters='];

  it('prints a table of machine × check and exits 1 when anything is unhealthy', async () => {
    const result = await runLab(['health', ...args()], lab.env);
    expect(result.exitCode).toBe(1);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^MACHINE\s+CHECK\s+STATUS\s+LATENCY\s+DETAIL$/);
    expect(lines.find((line) => line.startsWith('web ') && line.includes('tcp 5432'))).toMatch(
      /\bok\s+\d+ ms$/,
    );
    expect(lines.find((line) => line.includes('http://localhost:8080/missing'))).toMatch(
      /^api\s+http http:\/\/localhost:8080\/missing\s+FAILED\s+\d+ ms\s+HTTP 404, expected 2xx$/,
    );
    expect(lines.find((line) => line.startsWith('bare'))).toMatch(
      /^bare\s+ssh\s+ok\s+-\s+no health checks: SSH answers$/,
    );
    expect(result.stdout).toContain('1 of 3 machines unhealthy.');
  });

  it('exits 0 when the chosen machines are healthy, and prints stable JSON', async () => {
    const result = await runLab(['health', 'web', 'bare', '--json', ...args()], lab.env);
    expect(result.exitCode).toBe(0);
    const json = JSON.parse(result.stdout);
    expect(json.ok).toBe(true);
    expect(json.machines.map((m: { name: string }) => m.name)).toEqual(['bare', 'web']);
    expect(Object.keys(json.machines[1])).toEqual(['name', 'ok', 'reachable', 'error', 'checks']);
    expect(Object.keys(json.machines[1].checks[0])).toEqual(['name', 'type', 'ok', 'latencyMs', 'error']);
  });

  it('reports an unreachable machine without hiding the others', async () => {
    await lab.machine('bare').stop();
    const result = await runLab(['health', 'web', 'bare', '--json', ...args()], lab.env);
    expect(result.exitCode).toBe(1);
    const json = JSON.parse(result.stdout);
    expect(json.machines[1]).toMatchObject({ name: 'web', ok: true });
    expect(json.machines[0]).toMatchObject({ name: 'bare', ok: false, reachable: false });
    expect(json.machines[0].error).toContain('bare (root@');
  });

  it('refuses to run without a known_hosts file, saying how to give one', async () => {
    const result = await runLab(['health', ...args()], {
      ...lab.env,
      LAB_KNOWN_HOSTS: '/nonexistent/known_hosts',
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe(
      'lab: cannot read known_hosts file /nonexistent/known_hosts (ENOENT): pass --known-hosts or set LAB_KNOWN_HOSTS; lab never trusts a host key on first use\n',
    );
  });
});

describe('lab health --watch', () => {
  it('prints the table again every interval, follows a service that stops, and ends with Ctrl-C (exit 0)', async () => {
    const { execa } = await import('execa');
    const { repoRoot } = await import('../support/flake-fixtures.js');
    let text = '';
    const watching = execa(
      'node',
      [`${repoRoot}/dist/cli/main.js`, 'health', 'web', '--watch', '--interval', '1', '--flake', lab.flake],
      { env: { ...lab.env, LAB_NO_CACHE: '1', NIX_CONFIG: 'substituters =' }, reject: false },
    );
    watching.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    const rounds = () => text.split('\n').filter((line) => / · every 1 s · Ctrl-C stops$/.test(line)).length;
    const waitFor = async (check: () => boolean, what: string) => {
      const deadline = Date.now() + 60_000;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`lab health --watch: no ${what}:\n${text}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    await waitFor(() => rounds() >= 1 && text.includes('All 1 machine is healthy.'), 'first table');
    lab.machine('web').stopService(5432);
    try {
      await waitFor(() => /web\s+tcp 5432\s+FAILED/.test(text), 'failing tcp 5432');
      const seen = rounds();
      await waitFor(() => rounds() >= seen + 1, 'next round');
    } finally {
      lab.machine('web').startService(5432);
    }
    watching.kill('SIGINT');
    const result = await watching;
    expect(result.exitCode).toBe(0);
    // Not a terminal: the tables follow one another instead of being redrawn in place.
    expect(text).not.toContain('\u001b[2J');
  });
});
