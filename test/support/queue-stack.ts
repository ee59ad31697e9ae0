/**
 * A test's own queue on a simulated homelab: the homelab, a worker and a client of the queue, and
 * the further clients and workers a test starts. Start it in `beforeAll`, cancel what is left
 * after each test and stop it in `afterAll`:
 *
 *   const env = queueEnv();
 *   let stack: QueueStack;
 *   beforeAll(async () => {
 *     stack = await startQueueStack({ machines: { nas: standardMachines.nas }, env });
 *   });
 *   afterEach(() => stack.cancelActiveRuns());
 *   afterAll(() => stack?.stop());
 */
import type { RunControl } from '../../src/orchestration/queue/run-control.js';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { LabWorker } from '../../src/orchestration/queue/run-worker.js';
import type { NixSettings } from '../../src/transport/process/nix.js';
import type { Homelab } from '../sim/homelab.js';
import { type HomelabDescription, startTestHomelab } from './homelabs.js';
import { cancelActiveRuns, type QueueClient, queueClient, queueEnv, startWorker } from './queue.js';

export interface QueueStack {
  readonly lab: Homelab;
  /** The environment of the queue (queueEnv). */
  readonly env: Record<string, string>;
  /** The first worker, named test-worker. */
  readonly worker: LabWorker;
  /** The first client. */
  readonly runs: RunQueue;
  readonly control: RunControl;
  /** Another client, of this queue (with other settings) or of another; closed by `stop`. */
  client(env: Record<string, string>): Promise<QueueClient>;
  /** Another worker, of this queue or of another; stopped by `stop`. */
  startWorker(env: Record<string, string>, name: string): Promise<LabWorker>;
  /** Cancels every run that is not over, in each queue the clients reach (after each test). */
  cancelActiveRuns(): Promise<void>;
  /** Closes the clients, stops the workers, then the homelab. */
  stop(): Promise<void>;
}

export interface QueueStackOptions {
  /** The homelab's machines (started with startTestHomelab). */
  readonly machines: HomelabDescription;
  /** The queue's environment (default: a queueEnv() of its own). */
  readonly env?: Record<string, string>;
  /** The workers' nix (e.g. a countingNix wrapper; default testNix). */
  readonly nix?: NixSettings;
}

export async function startQueueStack(options: QueueStackOptions): Promise<QueueStack> {
  const env = options.env ?? queueEnv();
  const lab = await startTestHomelab(options.machines);
  const clients: QueueClient[] = [];
  const workers: LabWorker[] = [];
  const stop = async () => {
    await Promise.all(clients.splice(0).map((client) => client.runs.close()));
    await Promise.all(workers.splice(0).map((worker) => worker.stop()));
    await lab.stop();
  };
  const client = async (clientEnv: Record<string, string>) => {
    const made = await queueClient(clientEnv);
    clients.push(made);
    return made;
  };
  const addWorker = async (workerEnv: Record<string, string>, name: string) => {
    const worker = await startWorker(lab, workerEnv, name, options.nix ? { nix: options.nix } : {});
    workers.push(worker);
    return worker;
  };
  try {
    const worker = await addWorker(env, 'test-worker');
    const { runs, control } = await client(env);
    return {
      lab,
      env,
      worker,
      runs,
      control,
      client,
      startWorker: addWorker,
      async cancelActiveRuns() {
        // With the first client of each queue: another of the same queue would find nothing left.
        const done = new Set<string>();
        for (const made of clients) {
          if (done.has(made.config.queue)) continue;
          done.add(made.config.queue);
          await cancelActiveRuns(made.runs, made.control);
        }
      },
      stop,
    };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}
