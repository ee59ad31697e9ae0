import { type NixSettings, runNix } from '../../transport/process/nix.js';
import type { SshTarget } from '../../transport/ssh/errors.js';
import { CopyError } from './errors.js';

/** How nix's own ssh reaches machines: the same key and known_hosts as lab's connections. */
export interface CopySsh {
  readonly keyPath?: string;
  readonly knownHostsPath: string;
  /** The key is encrypted (LAB_SSH_KEY_PASSPHRASE): nix's ssh cannot use it without an agent. */
  readonly encryptedKey?: boolean;
}

/**
 * NIX_SSHOPTS for nix's ssh: strict host key checking against lab's known_hosts, lab's key,
 * the machine's port. (nix splits NIX_SSHOPTS on spaces: paths with spaces cannot be used.)
 */
export function nixSshOptions(target: SshTarget, ssh: CopySsh): string {
  for (const path of [ssh.keyPath, ssh.knownHostsPath]) {
    if (path && /\s/.test(path))
      throw new CopyError(target.machine, `nix cannot use a path with spaces for ssh: ${path}`);
  }
  return [
    ...(ssh.keyPath ? ['-i', ssh.keyPath] : []),
    '-o',
    `UserKnownHostsFile=${ssh.knownHostsPath}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=10',
    '-p',
    String(target.port),
  ].join(' ');
}

/** `ssh-ng://user@host` (the port travels in NIX_SSHOPTS). */
export function storeUri(target: SshTarget): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `ssh-ng://${target.user}@${host}`;
}

/**
 * Copies a system's closure to the machine's store. `--no-check-sigs`: lab copies what it built
 * itself to machines it logs into as an administrator, like colmena and deploy-rs do.
 */
export async function copyClosure(
  nix: NixSettings,
  target: SshTarget,
  ssh: CopySsh,
  path: string,
  options: { substituteOnTarget?: boolean; derivation?: boolean; signal?: AbortSignal } = {},
): Promise<void> {
  const args = [
    'copy',
    '--no-check-sigs',
    ...(options.substituteOnTarget ? ['--substitute-on-destination'] : []),
    // With --derivation, the .drv closure: what the machine needs to build the system itself.
    ...(options.derivation ? ['--derivation'] : []),
  ];
  const result = await runNix(nix, [...args, '--to', storeUri(target), path], {
    env: { NIX_SSHOPTS: nixSshOptions(target, ssh) },
    signal: options.signal,
  });
  if (!result.ok) throw new CopyError(target.machine, copyFailure(result.failure.message, ssh));
}

/** nix's message, with what to do when it is ssh that could not use an encrypted key. */
export function copyFailure(message: string, ssh: CopySsh): string {
  if (!ssh.encryptedKey || !/Permission denied|passphrase|publickey/i.test(message)) return message;
  return (
    `${message} (the key is encrypted, and nix copies with ssh, which cannot use LAB_SSH_KEY_PASSPHRASE: ` +
    'load the key into ssh-agent and set SSH_AUTH_SOCK, or use an unencrypted key kept as a secret)'
  );
}
