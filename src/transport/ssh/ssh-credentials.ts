import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LabError } from '../../errors.js';
import { parseKnownHosts } from './known-hosts.js';
import type { SshCredentials } from './ssh-connection.js';

/** The SSH key, agent or known_hosts file cannot be used. */
export class SshSetupError extends LabError {}

export interface SshSetupOptions {
  /** Private key file: --ssh-key, else LAB_SSH_KEY. */
  readonly keyPath?: string;
  /** known_hosts file: --known-hosts, else LAB_KNOWN_HOSTS, else ~/.ssh/known_hosts. */
  readonly knownHostsPath?: string;
}

const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/**
 * Key authentication from a key file or ssh-agent (SSH_AUTH_SOCK), like ssh: an explicit key
 * first, then the agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa. Host keys always come from a
 * known_hosts file: nothing is trusted on first use.
 */
export async function loadSshCredentials(
  options: SshSetupOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SshCredentials> {
  const home = env.HOME || homedir();
  const knownHostsPath = options.knownHostsPath ?? env.LAB_KNOWN_HOSTS ?? join(home, '.ssh', 'known_hosts');
  let knownHostsText: string;
  try {
    knownHostsText = await readFile(knownHostsPath, 'utf8');
  } catch (error) {
    throw new SshSetupError(
      `cannot read known_hosts file ${knownHostsPath} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): ` +
        'pass --known-hosts or set LAB_KNOWN_HOSTS; lab never trusts a host key on first use',
    );
  }
  const knownHosts = parseKnownHosts(knownHostsText);
  const passphrase = env.LAB_SSH_KEY_PASSPHRASE || undefined;
  const agent = env.SSH_AUTH_SOCK || undefined;

  const explicit = options.keyPath ?? env.LAB_SSH_KEY;
  if (explicit) {
    return {
      privateKey: await readKey(explicit),
      keyPath: explicit,
      passphrase,
      agent,
      knownHosts,
      knownHostsPath,
    };
  }
  if (agent) return { agent, knownHosts, knownHostsPath };
  for (const name of DEFAULT_KEYS) {
    const keyPath = join(home, '.ssh', name);
    const privateKey = await readFile(keyPath).catch(() => undefined);
    if (privateKey) return { privateKey, keyPath, passphrase, knownHosts, knownHostsPath };
  }
  throw new SshSetupError(
    'no SSH key: pass --ssh-key or set LAB_SSH_KEY, or start ssh-agent (SSH_AUTH_SOCK) with your key loaded',
  );
}

async function readKey(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new SshSetupError(
      `cannot read SSH key ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): check --ssh-key / LAB_SSH_KEY`,
    );
  }
}
