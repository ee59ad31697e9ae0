import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerJobError } from '../../src/errors.js';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import { stepMachines } from '../../src/orchestration/run-state.js';
import type { Homelab } from '../sim/homelab.js';
import { standardMachines } from '../support/homelabs.js';
import { followRun } from '../support/queue.js';
import { type QueueStack, startQueueStack } from '../support/queue-stack.js';

let stack: QueueStack;
let lab: Homelab;
let runs: RunQueue;
const cli = { id: 'cli:alice', name: 'alice' };

beforeAll(async () => {
  stack = await startQueueStack({
    machines: {
      nas: standardMachines.nas,
      web: { role: 'web', rebootOrder: 2, dependencies: ['nas'], orchestration: { rebootDelay: 3 } },
    },
  });
  ({ lab, runs } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

describe('a reboot run on the queue', () => {
  it('is carried out by a worker, in order, each machine rebooted once; the delay parks the job', async () => {
    const before = { nas: lab.bootLog('nas').length, web: lab.bootLog('web').length };
    const submitted = await runs.submit({
      kind: 'reboot',
      flake: lab.flake,
      targets: [],
      requestedBy: cli,
      source: 'cli',
    });
    expect(submitted.duplicate).toBe(false);
    expect(stepMachines(submitted.data.state)).toEqual([['nas'], ['web']]);

    const parked = await followRun(runs, submitted.runId, (event) => event.type === 'machine.waiting');
    expect(parked.at(-1)).toMatchObject({ type: 'machine.waiting', machine: 'web', reason: 'delay' });
    await expect
      .poll(async () => (await runs.run(submitted.runId)).jobState, { timeout: 5_000 })
      .toBe('delayed');

    const events = await followRun(runs, submitted.runId);
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    expect(lab.bootLog('nas').length).toBe(before.nas + 1);
    expect(lab.bootLog('web').length).toBe(before.web + 1);
    const nasUp = lab.bootLog('nas').at(-1)?.upAt ?? 0;
    const webDown = lab.bootLog('web').at(-2)?.downAt ?? 0;
    expect(webDown).toBeGreaterThan(nasUp);
    await expect
      .poll(async () => (await runs.run(submitted.runId)).jobState, { timeout: 5_000 })
      .toBe('completed');
    expect((await runs.run(submitted.runId)).data.state.status).toBe('succeeded');
  });

  it('refuses a request for a flake that is not there, its operator hint kept apart from the message', async () => {
    const flake = '/nonexistent/lab-flake';
    const error = (await runs
      .submit({ kind: 'reboot', flake, targets: [], requestedBy: cli, source: 'cli' })
      .catch((e) => e)) as WorkerJobError;
    expect(error).toBeInstanceOf(WorkerJobError);
    // The terminal says it all, as lab sequence does in-process; Discord shows the message alone.
    expect(error.message).toBe(
      `reading ${flake} in a worker failed: no flake at '${flake}': pass --flake with a directory containing flake.nix (or set LAB_FLAKE).`,
    );
    expect(error.publicMessage).toBe(`reading ${flake} in a worker failed: no flake at '${flake}'`);
  });
});
