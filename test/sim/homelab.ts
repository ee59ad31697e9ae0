import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import {
  type ActivationRecord,
  type BootRecord,
  type Fault,
  newHostKey,
  type RebootRequest,
  type SimDelays,
  SimMachine,
  type SimService,
  servicesScript,
} from './sim-machine.js';

export type { ActivationRecord, BootRecord, Fault, RebootRequest, SimDelays, SimService };

/** Prefix of every homelab's state directory; `npm run lab:clean` removes what carries it. */
export const SIM_PREFIX = 'lab-sim-';

/**
 * The nix settings the homelab's systems need to build (no sandbox: they are built with the
 * host's /bin/sh), for `NIX_USER_CONF_FILES`: set on the machines, and for nix on the host.
 */
export const SIM_NIX_CONF = join(import.meta.dirname, '../support/nix.conf');

export interface SimMachineSpec {
  readonly name: string;
  /** `lab.machine` without `ssh` (filled in with the machine's address). */
  readonly lab: Record<string, unknown>;
  readonly services?: readonly SimService[];
  readonly faults?: readonly Fault[];
}

export interface HomelabOptions {
  readonly machines: readonly SimMachineSpec[];
  /** How long a machine stays down during a reboot (default 300 ms). */
  readonly bootTimeMs?: number;
  /** Port every sshd listens on, each on its own address (default 2222). */
  readonly sshPort?: number;
}

export interface Homelab {
  readonly root: string;
  /** A flake whose nixosConfigurations describe the machines (plain attribute sets). */
  readonly flake: string;
  readonly keyPath: string;
  readonly knownHostsPath: string;
  /** LAB_SSH_KEY and LAB_KNOWN_HOSTS for lab. */
  readonly env: Record<string, string>;
  machine(name: string): SimMachine;
  /** Points the machine's current system at a new generation; with a new kernel it needs a reboot. */
  switchSystem(name: string, options: { newKernel: boolean }): Promise<void>;
  /**
   * Changes the machine's configuration in the flake (a new generation): its services, its kernel
   * version (a new one needs a reboot), or a configuration that fails to build.
   */
  configure(name: string, change: Partial<Omit<FlakeSystem, 'generation'>>): Promise<void>;
  bootLog(name: string): BootRecord[];
  /** Every run of switch-to-configuration on the machine: its start and, if it got there, its end. */
  activations(name: string): ActivationRecord[];
  /** Every reboot command the machine received (`systemctl reboot`, `reboot`, ...). */
  rebootRequests(name: string): RebootRequest[];
  stop(): Promise<void>;
}

/** What the flake's toplevel of a machine is built from. */
export interface FlakeSystem {
  generation: number;
  kernel: string;
  services: SimService[];
  buildFails: boolean;
}

interface FlakeMachine {
  lab: Record<string, unknown>;
  system: FlakeSystem;
}

const NIX_SYSTEM = `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux`;

/**
 * Starts a simulated homelab: each machine in its own mount, UTS and PID namespaces with its own
 * sshd on 127.x.y.N, host key, boot id, /run and services. Needs root, unshare and sshd.
 */
export async function startHomelab(options: HomelabOptions): Promise<Homelab> {
  const root = await mkdtemp(join(tmpdir(), SIM_PREFIX));
  const sshPort = options.sshPort ?? 2222;
  const bootTimeMs = options.bootTimeMs ?? 300;
  // A random 127.a.b.0/24 per homelab, so that homelabs of parallel test files never collide.
  const subnet = `127.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 256)}`;
  const machines = new Map<string, SimMachine>();
  try {
    const keyPath = join(root, 'id_ed25519');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'lab-test', '-f', keyPath]);
    const userKey = await readFile(`${keyPath}.pub`, 'utf8');
    await mkdir(join(root, 'kernels'));
    await writeFile(join(root, 'kernels', 'linux-1'), 'kernel 1\n');
    await writeFile(join(root, 'kernels', 'linux-2'), 'kernel 2\n');

    const flakeMachines: Record<string, FlakeMachine> = {};
    for (const [index, spec] of options.machines.entries()) {
      const address = `${subnet}.${index + 2}`;
      const dir = join(root, 'machines', spec.name);
      await prepareMachine(dir, spec, address, sshPort, userKey);
      machines.set(spec.name, new SimMachine(spec.name, address, sshPort, dir, bootTimeMs));
      flakeMachines[spec.name] = {
        lab: { ...spec.lab, ssh: { host: address, port: sshPort, user: 'root' } },
        system: { generation: 1, kernel: '1', services: [...(spec.services ?? [])], buildFails: false },
      };
    }
    const flake = join(root, 'flake');
    await mkdir(flake);
    const writeFlake = () =>
      writeFile(
        join(flake, 'machines.json'),
        JSON.stringify({ id: root, system: NIX_SYSTEM, machines: flakeMachines }, null, 2),
      );
    await writeFlake();
    await writeFile(join(flake, 'flake.nix'), FLAKE);

    await Promise.all([...machines.values()].map((machine) => machine.boot()));
    const knownHostsPath = join(root, 'known_hosts');
    await writeKnownHosts(knownHostsPath, [...machines.values()]);

    const lab: Homelab = {
      root,
      flake,
      keyPath,
      knownHostsPath,
      env: { LAB_SSH_KEY: keyPath, LAB_KNOWN_HOSTS: knownHostsPath },
      machine: (name) => {
        const machine = machines.get(name);
        if (!machine) throw new Error(`no simulated machine ${name}`);
        return machine;
      },
      switchSystem: async (name, { newKernel }) => {
        const machine = lab.machine(name);
        const system = await makeSystem(
          machine.dir,
          newKernel ? 'linux-2' : 'linux-1',
          await servicesOf(machine.dir),
        );
        await addGeneration(machine.dir, system);
        const result = await execa(
          'ssh',
          [
            ...sshArgs(keyPath, knownHostsPath, machine),
            '/usr/local/sbin/lab-sim-activate',
            'switch',
            system,
          ],
          { reject: false },
        );
        if (result.exitCode !== 0) throw new Error(`switching ${name} failed: ${result.stderr}`);
      },
      configure: async (name, change) => {
        const entry = flakeMachines[name];
        if (!entry) throw new Error(`no simulated machine ${name}`);
        entry.system = { ...entry.system, ...change, generation: entry.system.generation + 1 };
        await writeFlake();
      },
      bootLog: (name) => lab.machine(name).bootLog(),
      activations: (name) => lab.machine(name).activations(),
      rebootRequests: (name) => lab.machine(name).rebootRequests(),
      stop: async () => {
        await Promise.all([...machines.values()].map((machine) => machine.stop()));
        await rm(root, { recursive: true, force: true });
      },
    };
    return lab;
  } catch (error) {
    await Promise.all([...machines.values()].map((machine) => machine.stop()));
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

async function prepareMachine(
  dir: string,
  spec: SimMachineSpec,
  address: string,
  port: number,
  userKey: string,
) {
  await mkdir(join(dir, 'sbin'), { recursive: true });
  await mkdir(join(dir, 'nix', 'var', 'nix', 'profiles'), { recursive: true });
  await writeFile(join(dir, 'name'), spec.name);
  await writeFile(join(dir, 'boot_id'), '');
  await writeFile(join(dir, 'authorized_keys'), userKey);
  await writeFile(join(dir, 'hosts'), `${address} localhost ${spec.name}\n::1 ip6-localhost\n`);
  await writeFile(
    join(dir, 'services.json'),
    JSON.stringify({ name: spec.name, address, services: spec.services ?? [], faults: spec.faults ?? [] }),
  );
  await newHostKey(dir);
  await writeFile(join(dir, 'sshd_config'), sshdConfig(dir, address, port));
  await addGeneration(dir, await makeSystem(dir, 'linux-1', spec.services ?? []));
  const activate = ACTIVATE.replaceAll('@state@', dir).replaceAll('@services@', servicesScript);
  for (const [name, text] of Object.entries({
    systemctl: SYSTEMCTL.replaceAll('@state@', dir),
    reboot: REBOOT,
    'lab-sim-activate': activate,
  })) {
    await writeFile(join(dir, 'sbin', name), text);
    await chmod(join(dir, 'sbin', name), 0o755);
  }
}

/**
 * A system like a NixOS toplevel: kernel, initrd and modules links, the services it runs, and a
 * switch-to-configuration. The initial systems live outside the machine's store; deployed ones
 * are real store paths built by nix.
 */
async function makeSystem(dir: string, kernel: string, services: readonly SimService[]): Promise<string> {
  const system = join(dir, 'systems', `system-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`);
  await mkdir(join(system, 'bin'), { recursive: true });
  const kernels = join(dir, '..', '..', 'kernels');
  for (const link of ['kernel', 'initrd', 'kernel-modules'])
    await symlink(join(kernels, kernel), join(system, link));
  await writeFile(join(system, 'services.json'), JSON.stringify(services));
  await writeFile(
    join(system, 'bin', 'switch-to-configuration'),
    `#!/bin/sh\nexec /usr/local/sbin/lab-sim-activate "$1" ${system}\n`,
  );
  await chmod(join(system, 'bin', 'switch-to-configuration'), 0o755);
  return system;
}

/** Adds a generation to the machine's system profile and makes it the default, as nix-env --set does. */
async function addGeneration(dir: string, system: string): Promise<void> {
  const profiles = join(dir, 'nix', 'var', 'nix', 'profiles');
  const numbers = (await readdir(profiles))
    .map((name) => /^system-(\d+)-link$/.exec(name)?.[1])
    .filter(Boolean)
    .map(Number);
  const link = `system-${Math.max(0, ...numbers) + 1}-link`;
  await symlink(system, join(profiles, link));
  await rm(join(profiles, 'system'), { force: true });
  await symlink(link, join(profiles, 'system'));
}

async function servicesOf(dir: string): Promise<SimService[]> {
  return JSON.parse(await readFile(join(dir, 'services.json'), 'utf8')).services;
}

/** Arguments for the system ssh client to reach a simulated machine strictly. */
export function sshArgs(keyPath: string, knownHostsPath: string, machine: SimMachine): string[] {
  return [
    '-i',
    keyPath,
    '-o',
    `UserKnownHostsFile=${knownHostsPath}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=5',
    '-p',
    String(machine.sshPort),
    `root@${machine.address}`,
  ];
}

function sshdConfig(dir: string, address: string, port: number): string {
  return `ListenAddress ${address}:${port}
HostKey ${join(dir, 'ssh_host_ed25519_key')}
PidFile none
AuthorizedKeysFile ${join(dir, 'authorized_keys')}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
PrintMotd no
LogLevel ERROR
# This machine has no network: nix on it must not wait for a binary cache. The systems it builds
# (lab deploy --build-on-target) need the tests' nix settings.
SetEnv NIX_CONFIG="substituters =" NIX_USER_CONF_FILES="${SIM_NIX_CONF}"
`;
}

async function writeKnownHosts(path: string, machines: readonly SimMachine[]) {
  const lines = await Promise.all(
    machines.map(async (machine) => {
      const [type, key] = (await readFile(join(machine.dir, 'ssh_host_ed25519_key.pub'), 'utf8')).split(' ');
      return `[${machine.address}]:${machine.sshPort} ${type} ${key}`;
    }),
  );
  await writeFile(path, `${lines.join('\n')}\n`);
}

/**
 * systemctl of a simulated machine. reboot/poweroff record the request, mark the machine as
 * shutting down (is-system-running says "stopping", as systemd does once a shutdown job is
 * queued) and take it down after its shutdown delay (0.1 s unless set), returning after the
 * reboot command's own delay (none unless set); is-active says active.
 */
const SYSTEMCTL = `#!/bin/sh
case "$1" in
  reboot|poweroff|halt|kexec)
    echo "$1 $(cat /proc/sys/kernel/random/boot_id) $(date +%s%3N)" >> '@state@/reboot-requests.log'
    touch /run/lab-sim-stopping
    delay=$(cat '@state@/shutdown-delay' 2>/dev/null || echo 0.1)
    setsid sh -c "sleep $delay; kill -TERM 1" </dev/null >/dev/null 2>&1 &
    sleep "$(cat '@state@/reboot-command-delay' 2>/dev/null || echo 0)"
    exit 0 ;;
  is-active) echo active; exit 0 ;;
  is-system-running)
    if [ -e /run/lab-sim-stopping ]; then echo stopping; exit 1; fi
    echo running; exit 0 ;;
  *) exit 0 ;;
esac
`;

/**
 * What switch-to-configuration does on a simulated machine (the fixture systems' script calls
 * it): switch and test make the system current and restart its services; boot changes nothing
 * running (lab sets the profile). Like the real one it reports progress on stderr as it goes,
 * so it dies half-way (SIGPIPE) when whoever started it over SSH is gone; it takes the
 * machine's activation delay between making the system current and restarting the services.
 * Every run is recorded in activations.log: "start", and "done" if it got to the end.
 */
const ACTIVATE = `#!/bin/sh
set -eu
action=$1
system=$2
record() { echo "$1 $action $system $(date +%s%3N)" >> '@state@/activations.log'; }
case "$action" in
  switch|test)
    record start
    echo "activating the configuration..." >&2
    ln -sfn "$system" /run/current-system
    sleep "$(cat '@state@/activation-delay' 2>/dev/null || echo 0)"
    echo "restarting services..." >&2
    pkill -f '^node @services@' || true
    while pgrep -f '^node @services@' >/dev/null; do sleep 0.05; done
    setsid node '@services@' '@state@/services.json' "$system/services.json" </dev/null >/dev/null 2>&1 &
    record done
    ;;
  boot) ;;
  dry-activate) echo "would restart the services of $system" ;;
  *) echo "switch-to-configuration: unknown action '$action'" >&2; exit 1 ;;
esac
`;

const REBOOT = `#!/bin/sh
exec /usr/local/sbin/systemctl reboot
`;

/**
 * The generated flake: `lab.machine` of each machine, and a toplevel that is a real derivation
 * built by nix (a /bin/sh builder): kernel links to a kernel derivation, the services the
 * system runs, and a switch-to-configuration that activates it on a simulated machine.
 */
const FLAKE = `# Generated by the simulated homelab: plain attribute sets shaped like evaluated configurations.
{
  outputs = { self }:
    let
      spec = builtins.fromJSON (builtins.readFile ./machines.json);
      kernel = version: derivation {
        name = "linux-\${version}";
        system = spec.system;
        builder = "/bin/sh";
        args = [ "-c" "echo \${version} > $out" ];
      };
      toplevel = name: system: derivation {
        name = "nixos-system-\${name}-\${toString system.generation}";
        system = spec.system;
        builder = "/bin/sh";
        PATH = "/usr/bin:/bin";
        kernel = kernel system.kernel;
        services = builtins.toJSON system.services;
        fail = if system.buildFails then "1" else "";
        # Each homelab's systems are its own: a fresh homelab builds them anew.
        homelab = spec.id;
        args = [ "-c" ''
          if [ -n "$fail" ]; then echo "error: the configuration of \${name} does not build" >&2; exit 1; fi
          mkdir -p $out/bin
          for link in kernel initrd kernel-modules; do ln -s $kernel $out/$link; done
          printf '%s' "$services" > $out/services.json
          printf '#!/bin/sh\\nexec /usr/local/sbin/lab-sim-activate "$1" %s\\n' "$out" > $out/bin/switch-to-configuration
          chmod +x $out/bin/switch-to-configuration
        '' ];
      };
    in
    {
      nixosConfigurations = builtins.mapAttrs
        (name: machine: {
          config = {
            networking.hostName = name;
            lab.machine = machine.lab;
            system.build.toplevel = toplevel name machine.system;
          };
        })
        spec.machines;
    };
}
`;
