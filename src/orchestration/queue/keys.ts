/**
 * lab's own Redis keys, next to BullMQ's (`bull:<queue>:…`). Everything lives under the queue
 * name, so separate labs (and tests) can share one Redis.
 */
export class LabKeys {
  constructor(readonly queue: string) {}

  private get base(): string {
    return `lab:${this.queue}`;
  }

  /** Stream of a run's events (XADD), replayable from the start. */
  events(runId: string): string {
    return `${this.base}:run:${runId}:events`;
  }

  /** Stream of every run's events, for processes that show all runs. */
  get allEvents(): string {
    return `${this.base}:events`;
  }

  /** Hash of a run's control requests: cancel, decision, denials, approval waits. */
  control(runId: string): string {
    return `${this.base}:run:${runId}:control`;
  }

  /** List of a machine's approvals in a run (JSON), and the set of who approved. */
  approvals(runId: string, machine: string): string {
    return `${this.base}:run:${runId}:approvals:${machine}`;
  }

  approvers(runId: string, machine: string): string {
    return `${this.base}:run:${runId}:approvers:${machine}`;
  }

  /** The run a machine belongs to while it is in one. */
  lock(machine: string): string {
    return `${this.base}:lock:${machine}`;
  }

  /** The run started for a request, while it is active: the same request twice is one run. */
  request(fingerprint: string): string {
    return `${this.base}:request:${fingerprint}`;
  }

  inventory(key: string): string {
    return `${this.base}:inventory:${key}`;
  }

  /** The last inventory read of a flake, for answers that need no evaluation (autocomplete). */
  latestInventory(flake: string): string {
    return `${this.base}:inventory-latest:${flake}`;
  }

  /** Pub/sub channel on which control requests are announced to workers (message: run id). */
  get controlChannel(): string {
    return `${this.base}:control`;
  }

  /**
   * The Discord notifier's leader lease (value: the leading notifier's random id, with a ttl): of
   * every worker's notifier, only the one holding it posts.
   */
  get discordLeader(): string {
    return `${this.base}:discord:leader`;
  }

  /** The id of the last event the Discord notifier showed, so the next leader goes on from there. */
  get discordCursor(): string {
    return `${this.base}:discord:cursor`;
  }

  /**
   * Hash of where a run is shown in Discord (channelId, messageId, threadId) and its alerts
   * (`alert:<halt at>` → `<channel>:<message>`, `alertCurrent` → the halt being alerted).
   */
  discordRun(runId: string): string {
    return `${this.base}:discord:run:${runId}`;
  }

  /** The monitor's BullMQ queue (its job schedulers: one per watched machine), apart from the runs'. */
  get monitorQueue(): string {
    return `${this.queue}-monitor`;
  }

  /** Hash of the monitor's view of each machine (field: machine, value: its MachineWatch as JSON). */
  get monitorWatches(): string {
    return `${this.base}:monitor:watches`;
  }

  /**
   * Stream of the monitor's events (alerts, reopenings, recoveries, status changes): written in
   * the same transaction as the state they come from, read by the notifier from its cursor, so
   * an alert is neither lost nor repeated when a process restarts or Discord is away.
   */
  get monitorEvents(): string {
    return `${this.base}:monitor:events`;
  }

  /** A check of the machine in progress (a lease): two workers never check it at once. */
  monitorCheck(machine: string): string {
    return `${this.base}:monitor:check:${machine}`;
  }

  /** Hash of the silences (field: id, value: the Silence as JSON); expired ones are pruned. */
  get monitorSilences(): string {
    return `${this.base}:monitor:silences`;
  }

  /** The monitor notifier's leader lease and the id of the last monitor event it showed. */
  get monitorNotifierLeader(): string {
    return `${this.base}:discord:monitor-leader`;
  }

  get monitorCursor(): string {
    return `${this.base}:discord:monitor-cursor`;
  }

  /** Where an incident's alert is in Discord (channelId, messageId). */
  monitorAlert(incident: string): string {
    return `${this.base}:discord:monitor-alert:${incident}`;
  }

  /** Every key of a run, to expire together once it is finished. */
  runKeys(runId: string, machines: readonly string[]): string[] {
    return [
      this.events(runId),
      this.control(runId),
      ...machines.flatMap((machine) => [this.approvals(runId, machine), this.approvers(runId, machine)]),
    ];
  }
}
