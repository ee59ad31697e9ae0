import type { MachineHealth } from '../health/check-result.js';
import type { HostFacts } from '../hosts/host-facts.js';
import type { Machine } from '../inventory/schema.js';

/**
 * What a reboot needs from a machine. The SSH implementation is ./ssh-reboot-host.ts; the run
 * engine depends only on this interface.
 */
export interface RebootHost {
  /** The machine's current boot id. */
  bootId(machine: Machine): Promise<string>;
  /** Boot id, current and booted system, and whether a reboot is needed. */
  facts(machine: Machine): Promise<HostFacts>;
  /**
   * Whether the machine is shutting down (systemd's state is "stopping"): a reboot command was
   * received. Lets a resumed run tell a reboot it sent before a crash from one it did not send.
   */
  shuttingDown?(machine: Machine): Promise<boolean>;
  /**
   * Sends the reboot command if the machine still runs boot `bootId` (else rejects with
   * BootIdChangedError, nothing sent); a connection dropped by the reboot is expected, not an error.
   */
  sendReboot(machine: Machine, command: readonly string[], bootId: string): Promise<void>;
  /**
   * Polls until SSH answers with a boot id other than `previousBootId`, or the deadline passes
   * (then rejects with RebootTimeoutError). Calls `onDown` once, when the machine stops answering.
   */
  waitForNewBoot(
    machine: Machine,
    previousBootId: string,
    options: { deadline: number; signal?: AbortSignal; onDown?: () => void },
  ): Promise<{ bootId: string; downMs: number }>;
  /**
   * One look with the full connect timeouts, just before a power action (see MachineAnswer).
   * Optional: a host without it is never power-cycled by lab's recovery.
   */
  probe?(machine: Machine): Promise<MachineAnswer>;
  /** Runs the machine's health checks once. */
  checkHealth(machine: Machine): Promise<MachineHealth>;
  /**
   * Opens connections to these machines in the background and keeps them for their turn (the
   * next step's machines, while this step runs), so that their turn begins without a handshake.
   * Never fails: a machine that cannot be reached now is found so at its turn.
   */
  warm?(machines: readonly Machine[]): void;
  /**
   * The boot id read while warming the machine's connection, once (null if none was read; a read
   * still under way is waited for): its turn then needs no read of its own. It may be stale;
   * sendReboot's guard finds that out.
   */
  bootIdReadAhead?(machine: Machine): Promise<string | null>;
  /** Releases connections. */
  close(): Promise<void>;
}

/**
 * What a machine answered one probe with the full timeouts:
 * - `answers`: SSH answered (its boot id), or refused lab's host key or login (`bootId` null):
 *   something runs there, so lab never powers it off;
 * - `down`: evidence that nothing answers (refused, unreachable, or a full timeout);
 * - `unknown`: neither (its port accepted, then SSH failed another way).
 */
export type MachineAnswer =
  | { readonly kind: 'answers'; readonly bootId: string | null; readonly reason: string | null }
  | { readonly kind: 'down'; readonly reason: string }
  | { readonly kind: 'unknown'; readonly reason: string };
