import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Homelab } from '../sim/homelab.js';
import { flakeToplevel } from '../support/flake-fixtures.js';
import { startTestHomelab, tcp } from '../support/homelabs.js';
import { runLabOn } from '../support/run-cli.js';
import { eventsOf, parseEvents } from '../support/run-events.js';

let lab: Homelab;
const names = ['a', 'b', 'c'];

beforeAll(async () => {
  lab = await startTestHomelab(
    Object.fromEntries(
      names.map((name, index) => [
        name,
        {
          role: 'app',
          rebootOrder: index + 1,
          serves: [tcp(7000)],
          orchestration: { deployStrategy: 'rolling' },
        },
      ]),
    ),
  );
});

afterAll(async () => {
  await lab?.stop();
});

const deploy = (env: Record<string, string>, ...args: string[]) =>
  runLabOn(lab, 'deploy', ['--all', '--yes', '--json', ...args], env);

/** Whether the path is in the machine's own store (its /nix, seen from outside). */
const inStoreOf = (name: string, path: string): boolean =>
  existsSync(join(lab.machine(name).dir, 'nix', 'store', basename(path)));

/** Polls the machines' stores while `run` runs: when each path first appeared there. */
async function watchStores<T>(
  paths: Record<string, string>,
  run: Promise<T>,
): Promise<{ result: T; seenAt: Record<string, number> }> {
  const seenAt: Record<string, number> = {};
  let done = false;
  const finished = run.finally(() => {
    done = true;
  });
  while (!done) {
    for (const [name, path] of Object.entries(paths))
      if (seenAt[name] === undefined && inStoreOf(name, path)) seenAt[name] = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { result: await finished, seenAt };
}

describe('lab deploy copies closures ahead', () => {
  it("copies later machines' closures while the first activates; activations stay in order", async () => {
    for (const name of names) await lab.configure(name, { services: [{ type: 'tcp', port: 7000 }] });
    const systems = Object.fromEntries(
      await Promise.all(names.map(async (n) => [n, await flakeToplevel(lab.flake, n)])),
    );
    // a's activation takes 3 s: b's and c's closures are copied meanwhile.
    lab.machine('a').setDelays({ activationMs: 3_000 });
    try {
      const { result, seenAt } = await watchStores(systems, deploy({ LAB_COPY_CONCURRENCY: '2' }));
      expect(result.stderr).toBe('');
      expect(result.exitCode).toBe(0);
      // Read on the machines: a's activation ended after b's and c's closures were in their stores.
      const aDone = lab.activations('a').find((r) => r.event === 'done' && r.system === systems.a);
      expect(aDone).toBeDefined();
      for (const name of ['b', 'c']) {
        expect(seenAt[name], name).toBeDefined();
        expect(seenAt[name] as number, name).toBeLessThan(aDone?.at as number);
      }
      // Activations in sequence order, each after the one before was done.
      const starts = names.map(
        (n) => lab.activations(n).find((r) => r.event === 'start' && r.system === systems[n])?.at ?? 0,
      );
      const dones = names.map(
        (n) => lab.activations(n).find((r) => r.event === 'done' && r.system === systems[n])?.at ?? 0,
      );
      expect(starts[1]).toBeGreaterThan(dones[0] as number);
      expect(starts[2]).toBeGreaterThan(dones[1] as number);
      const events = parseEvents(result.stdout);
      const copying = eventsOf(events, 'machine.copying');
      expect(copying.map((e) => [e.machine, e.ahead])).toEqual([
        ['a', false],
        ['b', true],
        ['c', true],
      ]);
      // The events say when the copies made ahead were done: before the machine's turn.
      for (const event of copying.slice(1)) {
        expect(event.copiedAt).not.toBeNull();
        expect(Date.parse(event.copiedAt as string)).toBeLessThan(Date.parse(event.at));
        expect(Date.parse(event.copyStartedAt as string)).toBeLessThan(Date.parse(event.copiedAt as string));
      }
      expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    } finally {
      lab.machine('a').setDelays({ activationMs: 0 });
    }
  });

  it('a failed gate stops the activations: machines copied ahead run and boot what they did', async () => {
    const before = Object.fromEntries(names.map((n) => [n, lab.profile(n)]));
    const menus = Object.fromEntries(names.map((n) => [n, lab.bootMenu(n)]));
    await lab.configure('a', { services: [{ type: 'tcp', port: 7001 }] }); // its check stays red
    for (const name of ['b', 'c']) await lab.configure(name, { services: [{ type: 'tcp', port: 7000 }] });
    const systems = Object.fromEntries(
      await Promise.all(names.map(async (n) => [n, await flakeToplevel(lab.flake, n)])),
    );
    const { result, seenAt } = await watchStores(
      systems,
      deploy({ LAB_COPY_CONCURRENCY: '4' }, '--health-timeout', '4'),
    );
    expect(result.exitCode).toBe(1);
    const events = parseEvents(result.stdout);
    expect(events.at(-1)).toMatchObject({
      type: 'run.finished',
      status: 'failed',
      failure: { machine: 'a', phase: 'health' },
      pending: ['b', 'c'],
      outcomes: [
        { machine: 'a', outcome: 'rolled back' },
        { machine: 'b', outcome: 'not touched' },
        { machine: 'c', outcome: 'not touched' },
      ],
    });
    // While a was gated, b's closure was copied ahead (read from b's store), and that is all.
    expect(seenAt.b).toBeDefined();
    for (const name of ['b', 'c']) {
      expect(lab.activations(name).filter((r) => r.system === systems[name])).toEqual([]);
      expect(lab.profile(name)).toEqual(before[name]);
      expect(lab.bootMenu(name)).toEqual(menus[name]);
    }
    expect(eventsOf(events, 'machine.copying').map((e) => e.machine)).toEqual(['a']);
  });

  it('names LAB_COPY_CONCURRENCY when it is not a whole number from 0 to 64, touching nothing', async () => {
    const result = await deploy({ LAB_COPY_CONCURRENCY: 'many' });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("LAB_COPY_CONCURRENCY: must be a whole number from 0 to 64 (got 'many')");
  });
});
