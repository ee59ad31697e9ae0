import { ConfigurationError } from '../../errors.js';
import type { BrokenHost } from '../inventory/schema.js';
import { groupsOf, isPlanOfAll } from './broken-hosts.js';

/** What the CLI tells the operator to do; other adapters say it their way (see BrokenHostsError). */
export const CLI_SKIP_BROKEN = 'pass --skip-broken';

/**
 * A plan of all machines or of a group would leave out hosts whose `lab.machine` could not be
 * read (failed to evaluate or to validate). lab refuses rather than silently do less than asked;
 * the operator fixes the hosts or says to go on without them. `howToSkip` says how, in the words
 * of the adapter the plan was asked from ("pass --skip-broken", a Discord option, a setting).
 */
export class BrokenHostsError extends ConfigurationError {
  constructor(
    readonly hosts: readonly BrokenHost[],
    readonly targets: readonly string[],
    readonly howToSkip: string = CLI_SKIP_BROKEN,
  ) {
    super(brokenHostsMessage(hosts, targets, howToSkip));
  }

  /** The same refusal, telling how to skip in another adapter's words. */
  withHowToSkip(howToSkip: string): BrokenHostsError {
    return new BrokenHostsError(this.hosts, this.targets, howToSkip);
  }
}

/**
 * refusing to plan all machines: 2 hosts could not be read, and the plan would leave them out:
 *   - thrower: evaluation failed: thrower: missing hardware-configuration.nix
 *   - typo: lab.machine.orchestration.rebootdelay: unknown field
 * Fix them, or pass --skip-broken to go on without them.
 */
function brokenHostsMessage(
  hosts: readonly BrokenHost[],
  targets: readonly string[],
  howToSkip: string,
): string {
  const one = hosts.length === 1;
  const count = one ? 'a host' : `${hosts.length} hosts`;
  const them = one ? 'it' : 'them';
  const all = isPlanOfAll(targets);
  const groups = groupsOf(targets);
  const head = all
    ? `refusing to plan all machines: ${count} could not be read, and the plan would leave ${them} out:`
    : `refusing to plan ${targets.join(' ')}: ${count} that could not be read ${one ? 'is or may be' : 'are or may be'} ` +
      `in ${groups.map((group) => `@${group}`).join(', ')}, and the plan would leave ${them} out:`;
  const lines = hosts.map((host) => {
    if (all) return `  - ${host.name}: ${host.error}`;
    const where = host.groups
      ? `in ${host.groups
          .filter((group) => groups.includes(group))
          .map((group) => `@${group}`)
          .join(', ')}`
      : 'its groups could not be read, so it may be in any';
    return `  - ${host.name} (${where}): ${host.error}`;
  });
  return [head, ...lines, `Fix ${them}, or ${howToSkip} to go on without ${them}.`].join('\n');
}
