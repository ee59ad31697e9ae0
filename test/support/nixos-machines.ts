import type { DeployHost, MachineSystems, SwitchAction } from '../../src/domain/deploy/deploy-host.js';
import type { MachineHealth } from '../../src/domain/health/check-result.js';
import type { HostFacts } from '../../src/domain/hosts/host-facts.js';
import type { Machine } from '../../src/domain/inventory/schema.js';

/** One in-memory machine, as NixOS keeps it: a profile of generations, a boot default, what runs. */
interface MachineState {
  running: string;
  generations: Map<number, string>;
  current: number;
  bootDefault: string;
}

/**
 * In-memory machines for pure tests of the deploy engine (the SSH host is tested on the simulated
 * homelab), behaving as NixOS does: `nix-env --set` adds a generation above the highest;
 * switch-to-configuration `switch`/`boot` make the boot default the generation that is the
 * activated system (unchanged when none is), `switch`/`test` make it run; an activation with an
 * id runs once per id.
 */
export class NixosMachines implements DeployHost {
  readonly machines = new Map<string, MachineState>();
  /** "machine action system" of every activation that ran. */
  readonly activations: string[] = [];
  readonly log: string[] = [];
  readonly failCopy = new Set<string>();
  readonly failRestore = new Set<string>();
  /** Systems whose health checks fail. */
  readonly unhealthy = new Set<string>();
  /** Machines whose new kernel needs a reboot (after a deploy). */
  readonly kernelChanged = new Set<string>();
  /** Machines whose boot loader configuration cannot be read. */
  readonly bootUnknown = new Set<string>();
  private readonly byId = new Set<string>();

  /** The machine's state; a new one runs `/old/<name>`, generation 1 of its profile. */
  state(name: string): MachineState {
    let state = this.machines.get(name);
    if (!state) {
      state = {
        running: `/old/${name}`,
        generations: new Map([[1, `/old/${name}`]]),
        current: 1,
        bootDefault: `/old/${name}`,
      };
      this.machines.set(name, state);
    }
    return state;
  }

  async systems(m: Machine): Promise<MachineSystems> {
    const state = this.state(m.name);
    return {
      current: state.running,
      profile: state.generations.get(state.current) ?? null,
      generation: state.current,
      bootDefault: this.bootUnknown.has(m.name)
        ? { loader: null, system: null, unknown: 'no systemd-boot, GRUB or extlinux configuration was found' }
        : { loader: 'systemd-boot', system: state.bootDefault, unknown: null },
      booted: null,
    };
  }

  async copy(m: Machine) {
    this.log.push(`copy ${m.name}`);
    if (this.failCopy.has(m.name)) throw new Error('no space left on device');
  }

  async setProfile(m: Machine, system: string) {
    const state = this.state(m.name);
    const generation = Math.max(...state.generations.keys()) + 1;
    state.generations.set(generation, system);
    state.current = generation;
    this.log.push(`set ${m.name} ${generation} ${system}`);
    return generation;
  }

  async restoreProfile(m: Machine, generation: number, created: number | null) {
    if (this.failRestore.has(m.name)) throw new Error('profile is locked');
    const state = this.state(m.name);
    if (!state.generations.has(generation)) throw new Error(`profile version ${generation} does not exist`);
    state.current = generation;
    if (created !== null && created !== generation) state.generations.delete(created);
    this.log.push(`restore ${m.name} ${generation} delete ${created}`);
  }

  async switchTo(m: Machine, system: string, action: SwitchAction, id?: string) {
    if (id !== undefined && this.byId.has(id)) return; // that activation ran: its outcome
    if (id !== undefined) this.byId.add(id);
    this.activations.push(`${m.name} ${action} ${system}`);
    this.log.push(`${action} ${m.name} ${system}`);
    const state = this.state(m.name);
    if (action !== 'test' && [...state.generations.values()].includes(system)) state.bootDefault = system;
    if (action !== 'boot') state.running = system;
  }

  async checkHealth(m: Machine): Promise<MachineHealth> {
    const ok = !this.unhealthy.has(this.state(m.name).running);
    return {
      machine: m.name,
      reachable: true,
      error: null,
      ok,
      checks: [{ name: 'tcp 1', type: 'tcp', ok, latencyMs: 1, error: ok ? null : 'refused' }],
    };
  }

  async facts(m: Machine): Promise<HostFacts> {
    return {
      bootId: 'b',
      currentSystem: this.state(m.name).running,
      bootedSystem: null,
      needsReboot: this.kernelChanged.has(m.name),
      changed: this.kernelChanged.has(m.name) ? ['kernel'] : [],
    };
  }

  async close() {}
}
