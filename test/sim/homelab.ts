import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import {
  type ActivationRecord,
  type BootMenu,
  type BootRecord,
  type Fault,
  newHostKey,
  type RebootRequest,
  type SimDelays,
  SimMachine,
  type SimService,
  type SystemProfile,
  servicesScript,
  type UnitRecord,
  unitFiles,
} from './sim-machine.js';

export type {
  ActivationRecord,
  BootMenu,
  BootRecord,
  Fault,
  RebootRequest,
  SimDelays,
  SimService,
  SystemProfile,
  UnitRecord,
};

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
  /**
   * Whether systemd is PID 1 on it, as on every NixOS machine (default true): /run/systemd/system
   * exists, systemd-run starts transient units outside SSH sessions, and a session's processes are
   * killed when it ends. Without (a container, a chroot): none of that, and systemd-run refuses.
   */
  readonly systemd?: boolean;
  /**
   * Its power control in the flake (`lab.machine.power`), through its simulated power switch:
   * `command` runs test/sim/power-switch.mjs for on/off/cycle/status ('fails': a switch that
   * cannot be reached, exit 2); `wakeOnLan` names its MAC and its address, port 9; `recover` as
   * the option. The switch and the Wake-on-LAN port are there either way.
   */
  readonly power?: {
    readonly command?: 'works' | 'fails';
    readonly wakeOnLan?: boolean;
    readonly recover?: 'never' | 'power-cycle';
  };
}

/** Port of every simulated machine's Wake-on-LAN listener, on its own address (as network cards use). */
export const SIM_WOL_PORT = 9;
export const POWER_SWITCH_SCRIPT = join(import.meta.dirname, 'power-switch.mjs');

/** The `lab.machine.power` of a simulated machine whose spec asks for power control. */
function powerConfig(spec: SimMachineSpec, machine: SimMachine): Record<string, unknown> | null {
  const power = spec.power;
  if (!power) return null;
  const command = (action: string) =>
    power.command === 'fails'
      ? [process.execPath, POWER_SWITCH_SCRIPT, '--fail', `power switch of ${spec.name} unreachable`]
      : [process.execPath, POWER_SWITCH_SCRIPT, machine.powerSocket, action];
  return {
    ...(power.command
      ? {
          command: {
            on: command('on'),
            off: command('off'),
            cycle: command('cycle'),
            status: command('status'),
          },
        }
      : {}),
    ...(power.wakeOnLan
      ? { wakeOnLan: { mac: machine.mac, address: machine.address, port: SIM_WOL_PORT } }
      : {}),
    recover: power.recover ?? 'never',
  };
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
  /** The transient units systemd-run started on the machine, and how they ended. */
  units(name: string): UnitRecord[];
  /** Its boot menu (its /boot, systemd-boot layout): the default generation and each entry's system. */
  bootMenu(name: string): BootMenu;
  /** Its system profile: the current generation and each generation's system. */
  profile(name: string): SystemProfile;
  stop(): Promise<void>;
}

/** What the flake's toplevel of a machine is built from. */
export interface FlakeSystem {
  generation: number;
  kernel: string;
  services: SimService[];
  /** Packages in its closure, name → version (each a derivation `<name>-<version>`, in `sw/`). */
  packages: Record<string, string>;
  buildFails: boolean;
  /**
   * MiB of incompressible data in the system's closure (a path of its own per machine and
   * generation), so that copying it takes time (the copy benchmark). Default 0: none.
   */
  payloadMiB?: number;
}

interface FlakeMachine {
  lab: Record<string, unknown>;
  system: FlakeSystem;
}

const NIX_SYSTEM = `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux`;
/** The characters of nix's store path hashes. */
const NIX_BASE32 = '0123456789abcdfghijklmnpqrsvwxyz';

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
      const mac = `02:00:00:00:${(index >> 8).toString(16).padStart(2, '0')}:${(index & 0xff).toString(16).padStart(2, '0')}`;
      const sim = new SimMachine(spec.name, address, sshPort, dir, bootTimeMs, mac);
      machines.set(spec.name, sim);
      await sim.startPowerSwitch(SIM_WOL_PORT);
      const power = powerConfig(spec, sim);
      flakeMachines[spec.name] = {
        lab: {
          ...spec.lab,
          ssh: { host: address, port: sshPort, user: 'root' },
          ...(power ? { power } : {}),
        },
        system: {
          generation: 1,
          kernel: '1',
          services: [...(spec.services ?? [])],
          packages: {},
          buildFails: false,
        },
      };
    }
    const flake = join(root, 'flake');
    await mkdir(flake);
    const writeFlake = () =>
      writeFile(
        join(flake, 'machines.json'),
        JSON.stringify(
          {
            id: root,
            system: NIX_SYSTEM,
            machines: Object.fromEntries(
              Object.entries(flakeMachines).map(([name, entry]) => [
                name,
                { ...entry, system: { ...entry.system, units: unitFiles(entry.system.services) } },
              ]),
            ),
          },
          null,
          2,
        ),
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
      units: (name) => lab.machine(name).units(),
      bootMenu: (name) => lab.machine(name).bootMenu(),
      profile: (name) => lab.machine(name).profile(),
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
  await mkdir(join(dir, 'boot'), { recursive: true });
  await mkdir(join(dir, 'nix', 'var', 'nix', 'profiles'), { recursive: true });
  await writeFile(join(dir, 'name'), spec.name);
  if (spec.systemd !== false) await writeFile(join(dir, 'systemd'), '');
  await writeFile(join(dir, 'sshd.log'), '');
  await writeFile(join(dir, 'boot_id'), '');
  await writeFile(join(dir, 'authorized_keys'), userKey);
  await writeFile(join(dir, 'hosts'), `${address} localhost ${spec.name}\n::1 ip6-localhost\n`);
  await writeFile(
    join(dir, 'services.json'),
    JSON.stringify({ name: spec.name, address, services: spec.services ?? [], faults: spec.faults ?? [] }),
  );
  await newHostKey(dir);
  await writeFile(join(dir, 'sshd_config'), sshdConfig(dir, address, port));
  const activate = ACTIVATE.replaceAll('@state@', dir).replaceAll('@services@', servicesScript);
  for (const [name, text] of Object.entries({
    systemctl: SYSTEMCTL.replaceAll('@state@', dir),
    reboot: REBOOT,
    'systemd-run': SYSTEMD_RUN,
    'lab-sim-activate': activate,
    'lab-sim-install-bootloader': INSTALL_BOOTLOADER,
  })) {
    await writeFile(join(dir, 'sbin', name), text);
    await chmod(join(dir, 'sbin', name), 0o755);
  }
  // Installed as nixos-install does: the first generation, and the boot loader booting it.
  const system = await makeSystem(dir, 'linux-1', spec.services ?? []);
  await addGeneration(dir, system);
  await execa(join(dir, 'sbin', 'lab-sim-install-bootloader'), [system, dir]);
}

/**
 * A system like a NixOS toplevel: kernel, initrd and modules links, the services it runs, and a
 * switch-to-configuration. The initial systems live outside the machine's store; deployed ones
 * are real store paths built by nix.
 */
async function makeSystem(dir: string, kernel: string, services: readonly SimService[]): Promise<string> {
  // Named like a store path (<32-character hash>-<name>), as every NixOS system is.
  const hash = Array.from(randomBytes(32), (byte) => NIX_BASE32[byte % 32]).join('');
  const system = join(dir, 'systems', `${hash}-nixos-system-${basename(dir)}-sim`);
  await mkdir(join(system, 'bin'), { recursive: true });
  const kernels = join(dir, '..', '..', 'kernels');
  for (const link of ['kernel', 'initrd', 'kernel-modules'])
    await symlink(join(kernels, kernel), join(system, link));
  await writeFile(join(system, 'services.json'), JSON.stringify(services));
  await mkdir(join(system, 'etc', 'systemd', 'system'), { recursive: true });
  for (const [unit, text] of Object.entries(unitFiles(services)))
    await writeFile(join(system, 'etc', 'systemd', 'system', unit), text);
  await writeFile(join(system, 'init'), `#!/bin/sh\n# stage 2 of ${system}\n`);
  await writeFile(
    join(system, 'bin', 'switch-to-configuration'),
    `#!/bin/sh\nexec /usr/local/sbin/lab-sim-activate "$1" ${system}\n`,
  );
  await chmod(join(system, 'bin', 'switch-to-configuration'), 0o755);
  return system;
}

/** Adds a generation to the machine's system profile and makes it current, as nix-env --set does. */
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
# VERBOSE: the ends of sessions are logged (also of clients that vanished), which the machine's logind (SimMachine) acts on.
LogLevel VERBOSE
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
 * reboot command's own delay (none unless set); is-active says active. The shutdown is PID 1's
 * job, not the SSH session's: it does not end with the session.
 */
const SYSTEMCTL = `#!/bin/sh
case "$1" in
  reboot|poweroff|halt|kexec)
    echo "$1 $(cat /proc/sys/kernel/random/boot_id) $(date +%s%3N)" >> '@state@/reboot-requests.log'
    touch /run/lab-sim-stopping
    # Asks PID 1 for the shutdown, as systemd's systemctl does over D-Bus: it is PID 1's job, not
    # this session's, so the session ending (lab drops its connection at once) cannot cancel it.
    kill -USR2 1
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
 * it), as NixOS's does: dry-activate compares the running system's units with the new one's and
 * prints, on stderr and in NixOS's words and order, what it would do: a unit that is gone is
 * stopped; a changed one reloaded (X-ReloadIfChanged=true), left alone (X-RestartIfChanged=false:
 * "would NOT stop"), restarted (X-StopIfChanged=false), else stopped and started again; new units
 * are not listed (NixOS starts them through their targets); nothing changes. switch and boot install the boot loader (default: this system; see
 * INSTALL_BOOTLOADER); switch and test make the system current and restart its services. Like
 * the real one it reports progress on stderr as it goes, so run in an SSH session it dies half-way
 * (SIGPIPE) when whoever started it is gone; it takes the machine's activation delay between
 * making the system current and restarting the services. Every run is recorded in
 * activations.log: "start", and "done" if it got to the end. The services are PID 1's, not the
 * session's.
 */
const ACTIVATE = `#!/bin/sh
set -eu
action=$1
system=$2
record() { echo "$1 $action $system $(date +%s%3N)" >> '@state@/activations.log'; }
case "$action" in
  switch|boot|test) ;;
  dry-activate)
    old=/run/current-system/etc/systemd/system
    new=$system/etc/systemd/system
    stop='' start='' restart='' reload='' skip=''
    for path in "$old"/*; do
      [ -e "$path" ] || continue
      unit=\${path##*/}
      if [ ! -e "$new/$unit" ]; then stop="$stop $unit"; continue; fi
      [ "$(cat "$path")" != "$(cat "$new/$unit")" ] || continue
      if grep -qx 'X-ReloadIfChanged=true' "$new/$unit"; then reload="$reload $unit"
      elif grep -qx 'X-RestartIfChanged=false' "$new/$unit"; then skip="$skip $unit"
      elif grep -qx 'X-StopIfChanged=false' "$new/$unit"; then restart="$restart $unit"
      else stop="$stop $unit"; start="$start $unit"
      fi
    done
    list() { if [ -n "$2" ]; then echo "$1: $(echo $2 | sed 's/ /, /g')" >&2; fi; }
    list 'would stop the following units' "$stop"
    list 'would NOT stop the following changed units' "$skip"
    echo 'would activate the configuration...' >&2
    list 'would reload the following units' "$reload"
    list 'would restart the following units' "$restart"
    list 'would start the following units' "$start"
    exit 0 ;;
  *) echo "switch-to-configuration: unknown action '$action'" >&2; exit 1 ;;
esac
record start
case "$action" in
  switch|boot)
    echo "updating the boot loader..." >&2
    /usr/local/sbin/lab-sim-install-bootloader "$system" ;;
esac
case "$action" in
  switch|test)
    echo "activating the configuration..." >&2
    ln -sfn "$system" /run/current-system
    sleep "$(cat '@state@/activation-delay' 2>/dev/null || echo 0)"
    echo "restarting services..." >&2
    pkill -f '^[^ ]*perl @services@' || true
    while pgrep -f '^[^ ]*perl @services@' >/dev/null; do sleep 0.05; done
    env -u SSH_CONNECTION setsid perl '@services@' '@state@/services.json' "$system/services.json" </dev/null >/dev/null 2>&1 &
    ;;
esac
record done
`;

/**
 * The boot loader installer of a simulated machine (systemd-boot layout on its /boot), as
 * NixOS's systemd-boot-builder.py does it: an entry per system profile generation
 * (loader/entries/nixos-generation-N.conf, whose options pass init=<the generation's system>/init),
 * the kernel and initrd copied to EFI/nixos, entries and files of generations that are gone
 * removed, and loader.conf's default the generation that is the system being installed (left as
 * it was when no generation is). Usage: lab-sim-install-bootloader SYSTEM [ROOT] (ROOT: where the
 * machine's /boot and /nix are, from outside it).
 */
const INSTALL_BOOTLOADER = `#!/bin/sh
set -eu
default=$1
root=\${2:-}
boot=$root/boot
mkdir -p "$boot/loader/entries" "$boot/EFI/nixos"
efi_name() { printf '%s' "$1" | sed 's|^/nix/store/||; s|^/||; s|/|-|g'; }
copy() {
  name=$(efi_name "$1").efi
  [ -e "$boot/EFI/nixos/$name" ] || cp "$1" "$boot/EFI/nixos/$name"
  echo "$name"
}
known_entries=' '
known_files=' '
default_entry=
for link in "$root"/nix/var/nix/profiles/system-*-link; do
  [ -L "$link" ] || continue
  generation=\${link##*/system-}
  generation=\${generation%-link}
  system=$(readlink "$link")
  kernel=$(copy "$(readlink -f "$system/kernel")")
  initrd=$(copy "$(readlink -f "$system/initrd")")
  entry=nixos-generation-$generation.conf
  printf 'title NixOS\\nsort-key nixos\\nversion Generation %s\\nlinux /EFI/nixos/%s\\ninitrd /EFI/nixos/%s\\noptions init=%s/init loglevel=4\\n' \\
    "$generation" "$kernel" "$initrd" "$system" > "$boot/loader/entries/$entry.tmp"
  mv "$boot/loader/entries/$entry.tmp" "$boot/loader/entries/$entry"
  known_entries="$known_entries$entry "
  known_files="$known_files$kernel $initrd "
  if [ "$system" = "$default" ]; then default_entry=$entry; fi
done
for path in "$boot"/loader/entries/nixos-generation-*.conf; do
  [ -e "$path" ] || continue
  case "$known_entries" in *" \${path##*/} "*) ;; *) rm -f "$path" ;; esac
done
for path in "$boot"/EFI/nixos/*; do
  [ -e "$path" ] || continue
  case "$known_files" in *" \${path##*/} "*) ;; *) rm -f "$path" ;; esac
done
if [ -n "$default_entry" ]; then
  printf 'timeout 5\\ndefault %s\\neditor 0\\nconsole-mode keep\\n' "$default_entry" > "$boot/loader/loader.conf.tmp"
  mv "$boot/loader/loader.conf.tmp" "$boot/loader/loader.conf"
fi
`;

/**
 * systemd-run of a simulated machine, as systemd's: asks PID 1 (machine-init.sh) to run the
 * command as a transient service unit, a child of PID 1 with a clean environment (only -E
 * variables and PATH), outside the caller's SSH session, so that a dropped session does not kill
 * it. Refuses a unit name that is already loaded; --pipe gives the unit the caller's stdin, stdout
 * and stderr; --wait waits for it and exits with its exit status; --collect unloads it even when
 * it failed (else a failed unit stays loaded). Without systemd as PID 1 it refuses, as systemd's does.
 */
const SYSTEMD_RUN = `#!/bin/bash
set -euo pipefail
if [ ! -d /run/systemd/system ]; then
  echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2
  echo "Failed to connect to bus: Host is down" >&2
  exit 1
fi
environment=() unit='' wait='' pipe='' collect=''
setenv() { case $1 in *=*) environment+=("$1") ;; *) environment+=("$1=\${!1:-}") ;; esac; }
while [ $# -gt 0 ]; do
  case $1 in
    -E|--setenv) setenv "$2"; shift 2 ;;
    --setenv=*) setenv "\${1#--setenv=}"; shift ;;
    -u|--unit) unit=$2; shift 2 ;;
    --unit=*) unit=\${1#--unit=}; shift ;;
    --wait) wait=1; shift ;;
    -P|--pipe) pipe=1; shift ;;
    -G|--collect) collect=1; shift ;;
    -q|--quiet|--no-ask-password|--service-type=exec) shift ;;
    --) shift; break ;;
    -*) echo "systemd-run: unrecognized option '$1'" >&2; exit 1 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo 'systemd-run: Command line to execute required.' >&2; exit 1; }
case $unit in '') unit=run-u$$.service ;; *.service) ;; *) unit=$unit.service ;; esac
program=$(command -v "$1") || { echo "Failed to find executable $1: No such file or directory" >&2; exit 1; }
shift
root=/run/lab-sim-systemd
mkdir -p "$root/units" "$root/results"
dir=$root/units/$unit
if ! mkdir "$dir" 2>/dev/null; then
  echo "Failed to start transient service unit: Unit $unit was already loaded or has a fragment file." >&2
  exit 1
fi
invocation=$(tr -d - </proc/sys/kernel/random/uuid)
: >"$dir/environment"
if [ \${#environment[@]} -gt 0 ]; then printf '%q ' "\${environment[@]}" >"$dir/environment"; fi
printf '%q ' "$program" "$@" >"$dir/command"
echo $$ >"$dir/client"
echo "$invocation" >"$dir/invocation"
if [ -n "$pipe" ]; then : >"$dir/pipe"; fi
if [ -n "$collect" ]; then : >"$dir/collect"; fi
: >"$dir/request"
# PID 1 starts it on SIGUSR1 (again while it has not: a signal may arrive while it is busy).
until [ -e "$dir/started" ] || [ -e "$root/results/$invocation" ]; do kill -USR1 1; sleep 0.02; done
[ -n "$wait" ] || exit 0
until [ -e "$root/results/$invocation" ]; do sleep 0.05; done
status=$(cat "$root/results/$invocation")
rm -f "$root/results/$invocation"
exit "$status"
`;

const REBOOT = `#!/bin/sh
exec /usr/local/sbin/systemctl reboot
`;

/**
 * The generated flake: `lab.machine` of each machine, and a toplevel that is a real derivation
 * built by nix (a /bin/sh builder), shaped as NixOS's: `kernel` links to the kernel's kernelFile,
 * `initrd` to the initial ramdisk's initrdFile, `kernel-modules` to the modules tree (each a
 * derivation of its own, all of the machine's kernel version), an `init`, the services the system
 * runs, and a switch-to-configuration that activates it on a simulated machine. The configuration
 * exposes the same attributes NixOS's does (boot.kernelPackages.kernel, system.build.initialRamdisk,
 * system.modulesTree, system.boot.loader.{kernel,initrd}File), so they are known without building.
 */
const FLAKE = `# Generated by the simulated homelab: plain attribute sets shaped like evaluated configurations.
{
  outputs = { self }:
    let
      spec = builtins.fromJSON (builtins.readFile ./machines.json);
      part = name: script: derivation {
        inherit name;
        system = spec.system;
        builder = "/bin/sh";
        PATH = "/usr/bin:/bin";
        args = [ "-c" script ];
      };
      kernel = version: part "linux-\${version}" "mkdir $out; echo \${version} > $out/bzImage";
      initrd = version: part "initrd-linux-\${version}" "mkdir $out; echo initrd \${version} > $out/initrd";
      modules = version: part "linux-\${version}-modules" "mkdir -p $out/lib/modules/\${version}";
      package = name: version: part "\${name}-\${version}" "mkdir -p $out/bin; echo \${name} \${version} > $out/bin/\${name}";
      # The system's units (etc/systemd/system) and packages (sw/), linked as NixOS links them.
      links = system: builtins.concatStringsSep "\n" (
        map (unit: "ln -s \${builtins.toFile unit system.units.\${unit}} $out/etc/systemd/system/\${unit}")
          (builtins.attrNames system.units)
        ++ map (name: "ln -s \${package name system.packages.\${name}} $out/sw/\${name}")
          (builtins.attrNames system.packages));
      # Data the system carries (firmware, a large package): random, so no copy can compress it.
      payload = name: system: part "payload-\${name}-\${toString system.generation}"
        "head -c \${toString (system.payloadMiB or 0)}M /dev/urandom > $out";
      toplevel = name: system: derivation {
        name = "nixos-system-\${name}-\${toString system.generation}";
        system = spec.system;
        builder = "/bin/sh";
        PATH = "/usr/bin:/bin";
        kernel = "\${kernel system.kernel}/bzImage";
        initrd = "\${initrd system.kernel}/initrd";
        modules = modules system.kernel;
        services = builtins.toJSON system.services;
        fail = if system.buildFails then "1" else "";
        payload = if (system.payloadMiB or 0) > 0 then payload name system else "";
        # Each homelab's systems are its own: a fresh homelab builds them anew.
        homelab = spec.id;
        args = [ "-c" ''
          if [ -n "$fail" ]; then echo "error: the configuration of \${name} does not build" >&2; exit 1; fi
          mkdir -p $out/bin $out/etc/systemd/system $out/sw
          \${links system}
          ln -s $kernel $out/kernel
          ln -s $initrd $out/initrd
          ln -s $modules $out/kernel-modules
          printf '#!/bin/sh\\n# stage 2 of %s\\n' "$out" > $out/init
          printf '%s' "$services" > $out/services.json
          if [ -n "$payload" ]; then ln -s $payload $out/payload; fi
          printf '#!/bin/sh\\nexec /usr/local/sbin/lab-sim-activate "$1" %s\\n' "$out" > $out/bin/switch-to-configuration
          chmod +x $out/init $out/bin/switch-to-configuration
        '' ];
      };
    in
    {
      nixosConfigurations = builtins.mapAttrs
        (name: machine: {
          config = {
            networking.hostName = name;
            lab.machine = machine.lab;
            boot.kernelPackages.kernel = kernel machine.system.kernel;
            system.boot.loader.kernelFile = "bzImage";
            system.boot.loader.initrdFile = "initrd";
            system.build.initialRamdisk = initrd machine.system.kernel;
            system.modulesTree = modules machine.system.kernel;
            system.build.toplevel = toplevel name machine.system;
          };
        })
        spec.machines;
    };
}
`;
