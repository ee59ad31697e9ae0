import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { RunJobData } from '../../src/orchestration/queue/run-request.js';
import { type LabWorker, SCHEDULE_ID } from '../../src/orchestration/queue/run-worker.js';
import { stepMachines } from '../../src/orchestration/run-state.js';
import type { Homelab } from '../sim/homelab.js';
import { homelabs, startTestHomelab } from '../support/homelabs.js';
import { followRun, queueClient, queueEnv, startWorker } from '../support/queue.js';

let lab: Homelab;
let worker: LabWorker | undefined;
let runs: RunQueue;

beforeAll(async () => {
  lab = await startTestHomelab(homelabs.nasAndWeb);
});

afterAll(async () => {
  await runs?.close();
  await worker?.stop();
  await lab?.stop();
});

describe('the scheduled pipeline', () => {
  it('deploys every machine on the cron schedule, then reboots the ones that need it, in a run of their own', async () => {
    // A new kernel for nas (it will need a reboot), new services for web (it will not).
    await lab.configure('nas', { kernel: '2' });
    await lab.configure('web', {
      services: [
        { type: 'http', port: 80 },
        { type: 'tcp', port: 9000 },
      ],
    });
    const bootsBefore = { nas: lab.bootLog('nas').length, web: lab.bootLog('web').length };
    const env = queueEnv({ LAB_SCHEDULE: '*/2 * * * * *', LAB_FLAKE: lab.flake });
    ({ runs } = await queueClient(env));
    worker = await startWorker(lab, env);
    const schedulers = await runs.queue.getJobSchedulers();
    expect(schedulers.map((scheduler) => [scheduler.key, scheduler.pattern])).toEqual([
      [SCHEDULE_ID, '*/2 * * * * *'],
    ]);

    const deployRun = await waitForRun(runs, 'deploy');
    expect(deployRun.data.request).toMatchObject({ source: 'schedule', targets: [], rebootIfNeeded: true });
    const deployEvents = await followRun(runs, deployRun.data.state.id);
    expect(deployEvents.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    expect(deployEvents).toContainEqual(
      expect.objectContaining({ type: 'machine.needs-reboot', machine: 'nas' }),
    );

    const needing = deployEvents.flatMap((event) =>
      event.type === 'machine.needs-reboot' ? [event.machine] : [],
    );
    const rebootRun = await waitForRun(runs, 'reboot');
    expect(stepMachines(rebootRun.data.state).flat()).toEqual(needing);
    const rebootEvents = await followRun(runs, rebootRun.data.state.id);
    expect(rebootEvents.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    await worker.stop();
    worker = undefined;
    expect(lab.bootLog('nas').length).toBe(bootsBefore.nas + 1);
    expect(lab.bootLog('web').length).toBe(bootsBefore.web + (needing.includes('web') ? 1 : 0));
  });
});

/** The first run of the kind that appears on the queue. */
async function waitForRun(runs: RunQueue, kind: string): Promise<Job<RunJobData>> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const jobs = (await runs.queue.getJobs([
      'active',
      'delayed',
      'waiting',
      'completed',
    ])) as Job<RunJobData>[];
    const found = jobs.find((job) => job?.name === 'run' && job.data.state.kind === kind);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no ${kind} run appeared within 60 s`);
}
