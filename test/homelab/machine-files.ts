import { chmod, mkdir, readdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

/** The files of one simulated machine's directory, which machine-init.sh and the supervisor read. */

export type HomelabService = { type: 'http'; port: number; path?: string } | { type: 'tcp'; port: number };

/** Faults a machine has; read at each boot, so a change applies from its next boot. */
export interface Faults {
  /** Stays down after it goes down (`start` powers it on again). */
  readonly neverComesBack?: boolean;
  /** HTTP health answers 500 and TCP ports stay closed. */
  readonly healthFails?: boolean;
  /** Stays down this long instead of its normal boot time (a slow boot). */
  readonly bootTimeMs?: number;
  /** Boots with a new host key (once: the flag clears itself), so strict ssh refuses it. */
  readonly hostKeyChanged?: boolean;
}

export interface MachineFiles {
  readonly name: string;
  readonly dir: string;
  readonly address: string;
  readonly sshPort: number;
  readonly services: readonly HomelabService[];
  readonly faults: Faults;
  readonly userKey: string;
  readonly kernels: string;
}

export async function writeMachineFiles(machine: MachineFiles): Promise<void> {
  const { dir, name, address } = machine;
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'profiles'));
  await writeFile(join(dir, 'name'), `${name}\n`);
  await writeFile(join(dir, 'boot_id'), '');
  await writeFile(join(dir, 'boots.jsonl'), '');
  await writeFile(join(dir, 'authorized_keys'), machine.userKey);
  await writeFile(join(dir, 'hosts'), `${address} localhost ${name}\n`);
  await writeFile(join(dir, 'machine.json'), JSON.stringify({ name, address, services: machine.services }));
  await writeFile(join(dir, 'faults.json'), JSON.stringify(machine.faults));
  await writeFile(join(dir, 'sshd_config'), sshdConfig(dir, address, machine.sshPort));
  await hostKey(dir);
  for (const command of ['systemctl', 'reboot']) {
    await writeFile(join(dir, 'bin', command), SYSTEMCTL);
    await chmod(join(dir, 'bin', command), 0o755);
  }
  await newSystem(dir, machine.kernels, 'linux-1');
}

/**
 * A new system generation with the links NixOS has (kernel, initrd, kernel-modules), made the
 * system profile's default: the machine boots it next. Returns its path.
 */
export async function newSystem(dir: string, kernels: string, kernel: string): Promise<string> {
  const generation = (await readdir(join(dir, 'profiles'))).filter((f) => f.endsWith('-link')).length + 1;
  const system = join(dir, 'systems', `system-${generation}`);
  await mkdir(system, { recursive: true });
  await mkdir(join(kernels, kernel, 'lib', 'modules'), { recursive: true });
  await writeFile(join(kernels, kernel, 'bzImage'), `${kernel}\n`);
  await writeFile(join(kernels, kernel, 'initrd'), `${kernel} initrd\n`);
  await symlink(join(kernels, kernel, 'bzImage'), join(system, 'kernel'));
  await symlink(join(kernels, kernel, 'initrd'), join(system, 'initrd'));
  await symlink(join(kernels, kernel, 'lib'), join(system, 'kernel-modules'));
  await writeFile(join(system, 'nixos-version'), `simulated generation ${generation}\n`);
  await symlink(system, join(dir, 'profiles', `system-${generation}-link`));
  await symlink(`system-${generation}-link`, join(dir, 'profiles', 'system.new'));
  await rename(join(dir, 'profiles', 'system.new'), join(dir, 'profiles', 'system'));
  return system;
}

async function hostKey(dir: string): Promise<void> {
  const key = join(dir, 'ssh_host_ed25519_key');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'lab-homelab-host', '-f', key]);
}

export async function hostKeyPublic(dir: string): Promise<string> {
  const [type, key] = (await readFile(join(dir, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(' ');
  return `${type} ${key}`;
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
PermitTunnel no
X11Forwarding no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 100
LogLevel ERROR
`;
}

/**
 * systemctl (and reboot, the same script) inside a machine: reboot sends TERM to the machine's
 * PID 1, which takes the machine down; the supervisor boots it again.
 */
const SYSTEMCTL = `#!/bin/sh
# systemctl of a simulated lab machine.
verb=$(basename "$0")
if [ "$verb" = systemctl ]; then verb=\${1:-}; fi
case "$verb" in
  reboot|kexec)
    setsid sh -c 'sleep 0.1; kill -TERM 1' </dev/null >/dev/null 2>&1 &
    echo "Rebooting." ;;
  is-active) echo active ;;
  is-system-running) echo running ;;
  *) echo "systemctl (simulated): nothing to do for: $*" ;;
esac
exit 0
`;
