import type { SshTarget } from './errors.js';
import {
  defaultSshTimeouts,
  SshConnection,
  type SshCredentials,
  type SshTimeouts,
} from './ssh-connection.js';

/**
 * One connection per machine, reused for everything an operation does on it; a connection that
 * has dropped (e.g. across a reboot) is replaced on the next request. Close it when done.
 */
export class SshPool {
  private readonly connections = new Map<string, Promise<SshConnection>>();
  /** Connections (SSH handshakes) this pool has opened; requests beyond them reused one. */
  opened = 0;

  constructor(
    private readonly credentials: SshCredentials,
    private readonly timeouts: SshTimeouts = defaultSshTimeouts,
  ) {}

  connection(target: SshTarget): Promise<SshConnection> {
    const key = `${target.machine}\u0000${target.user}@${target.host}:${target.port}`;
    const existing = this.connections.get(key);
    if (existing) {
      return existing.then(
        (connection) => (connection.isOpen ? connection : this.open(key, target)),
        () => this.open(key, target),
      );
    }
    return this.open(key, target);
  }

  /** Takes an open connection to the machine as its pooled one (closing any other). */
  adopt(target: SshTarget, connection: SshConnection): void {
    const key = `${target.machine}\u0000${target.user}@${target.host}:${target.port}`;
    const previous = this.connections.get(key);
    this.connections.set(key, Promise.resolve(connection));
    previous?.then((old) => old !== connection && old.close()).catch(() => {});
  }

  /** Closes and forgets the machine's connection, e.g. before a reboot. */
  async drop(target: SshTarget): Promise<void> {
    for (const [key, pending] of this.connections) {
      if (key.startsWith(`${target.machine}\u0000`)) {
        this.connections.delete(key);
        (await pending.catch(() => undefined))?.close();
      }
    }
  }

  async closeAll(): Promise<void> {
    const pending = [...this.connections.values()];
    this.connections.clear();
    for (const connection of await Promise.allSettled(pending)) {
      if (connection.status === 'fulfilled') connection.value.close();
    }
  }

  private open(key: string, target: SshTarget): Promise<SshConnection> {
    const pending = SshConnection.connect(target, this.credentials, this.timeouts);
    this.opened += 1;
    this.connections.set(key, pending);
    // A failed attempt is not cached: the next request tries again.
    pending.catch(() => {
      if (this.connections.get(key) === pending) this.connections.delete(key);
    });
    return pending;
  }
}
