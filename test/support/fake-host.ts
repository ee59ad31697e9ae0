import type { MachineHealth } from '../../src/domain/health/check-result.js';
import type { HostFacts } from '../../src/domain/hosts/host-facts.js';
import type { Machine } from '../../src/domain/inventory/schema.js';
import { BootIdChangedError, RebootTimeoutError } from '../../src/domain/reboot/errors.js';
import type { RebootHost } from '../../src/domain/reboot/reboot-host.js';
import type { RunEngine } from '../../src/orchestration/run-engine.js';
import type { ApprovalPort } from '../../src/orchestration/run-flow.js';
import type { RunState } from '../../src/orchestration/run-state.js';

/**
 * The one in-memory stand-in for the RebootHost port in the engines' unit tests (the real one,
 * over SSH, is tested against the simulated homelab; deploys use NixosMachines): machines with a
 * boot counter that can be told to fail. With `slowShutdown` a machine takes a while to go down
 * after a reboot command: until the engine waits for it, it answers with its old boot id and says
 * it is shutting down (as a real one does while it stops its services).
 */
export class FakeHost implements RebootHost {
  readonly boots = new Map<string, number>();
  /** How many reboot commands each machine got. */
  readonly commands = new Map<string, number>();
  readonly log: string[] = [];
  neverBack = new Set<string>();
  unhealthy = new Set<string>();
  private readonly stopping = new Set<string>();
  private readonly readAhead = new Map<string, string>();

  constructor(private readonly options: { slowShutdown?: boolean } = {}) {}

  async bootId(m: Machine) {
    return `boot-${m.name}-${this.boots.get(m.name) ?? 0}`;
  }
  async shuttingDown(m: Machine) {
    return this.stopping.has(m.name);
  }
  async facts(m: Machine): Promise<HostFacts> {
    return {
      bootId: await this.bootId(m),
      currentSystem: null,
      bootedSystem: null,
      needsReboot: false,
      changed: [],
    };
  }
  /** Reads boot ids ahead, as SshRebootHost does while it opens the next step's connections. */
  warm(machines: readonly Machine[]) {
    for (const m of machines)
      if (!this.readAhead.has(m.name))
        this.readAhead.set(m.name, `boot-${m.name}-${this.boots.get(m.name) ?? 0}`);
  }
  async bootIdReadAhead(m: Machine) {
    const bootId = this.readAhead.get(m.name) ?? null;
    this.readAhead.delete(m.name);
    return bootId;
  }
  /** The machine reboots on its own (a watchdog, a power cut), without a reboot command. */
  rebootsOnItsOwn(name: string) {
    this.boot(name);
  }
  async sendReboot(m: Machine, _command: readonly string[], bootId: string) {
    // The guard of the real command: nothing is sent to another boot than the one expected.
    if (bootId !== (await this.bootId(m))) throw new BootIdChangedError(m.name, bootId);
    this.log.push(`reboot ${m.name}`);
    this.commands.set(m.name, (this.commands.get(m.name) ?? 0) + 1);
    if (this.options.slowShutdown) this.stopping.add(m.name);
    else if (!this.neverBack.has(m.name)) this.boot(m.name);
  }
  async waitForNewBoot(m: Machine, previous: string, options: { deadline: number; onDown?: () => void }) {
    if (!this.options.slowShutdown) options.onDown?.();
    else if (this.stopping.delete(m.name)) {
      options.onDown?.();
      if (!this.neverBack.has(m.name)) this.boot(m.name);
    }
    const now = await this.bootId(m);
    if (now === previous)
      throw new RebootTimeoutError(m.name, 1, this.options.slowShutdown ? 'old boot' : 'down');
    return { bootId: now, downMs: this.options.slowShutdown ? 1 : 5 };
  }
  async checkHealth(m: Machine): Promise<MachineHealth> {
    const ok = !this.unhealthy.has(m.name);
    return {
      machine: m.name,
      reachable: true,
      error: null,
      ok,
      checks: [{ name: 'tcp 5432', type: 'tcp', ok, latencyMs: 1, error: ok ? null : 'connection refused' }],
    };
  }
  async close() {}

  private boot(name: string) {
    this.boots.set(name, (this.boots.get(name) ?? 0) + 1);
  }
}

/** An approval port that approves every machine (no approvers named), recording whom it was asked for. */
export function approveAll(asked: string[] = []): ApprovalPort {
  return {
    request: async (m) => {
      asked.push(m.name);
      return { type: 'approved', approvals: [] };
    },
  };
}

/**
 * An engine whose run, cancel and decide resolve with its state (what the tests read): the
 * engine's own RunOutcome is read with `outcome`.
 */
export function stateful(engine: RunEngine) {
  const wrapped = {
    engine,
    on(listener: Parameters<RunEngine['on']>[0]) {
      engine.on(listener);
      return wrapped;
    },
    async run(signal?: AbortSignal): Promise<RunState> {
      await engine.run(signal);
      return engine.state;
    },
    async cancel(reason: string, signal?: AbortSignal): Promise<RunState> {
      await engine.cancel(reason, signal);
      return engine.state;
    },
    decide: (decision: Parameters<RunEngine['decide']>[0], by: string) => engine.decide(decision, by),
  };
  return wrapped;
}
