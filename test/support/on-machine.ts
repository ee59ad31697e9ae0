/** Reading a simulated machine's state on the machine itself, over SSH as lab reaches it. */
import { execa } from 'execa';
import { type Homelab, sshArgs } from '../sim/homelab.js';

/** The standard output of a shell command run on the machine (fails the test if it fails). */
export async function onMachine(lab: Homelab, name: string, command: string): Promise<string> {
  return (await execa('ssh', [...sshArgs(lab.keyPath, lab.knownHostsPath, lab.machine(name)), command]))
    .stdout;
}

/** The system the machine runs (/run/current-system, resolved). */
export function runningSystem(lab: Homelab, name: string): Promise<string> {
  return onMachine(lab, name, 'readlink -f /run/current-system');
}

/** What the machine runs and what its profile boots. */
export async function systemsOf(lab: Homelab, name: string): Promise<{ current: string; profile: string }> {
  const output = await onMachine(
    lab,
    name,
    'readlink -f /run/current-system; readlink -f /nix/var/nix/profiles/system',
  );
  const [current = '', profile = ''] = output.split('\n');
  return { current, profile };
}
