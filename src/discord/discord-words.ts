import { BrokenHostsError } from '../domain/planner/errors.js';
import type { SkippedHost } from '../domain/planner/plan.js';
import { clip } from './render/colors.js';

/** How a Discord user goes on without the hosts that could not be read. */
const skipBrokenInDiscord = 'set the skip-broken option to True';

/** A refusal over broken hosts, telling how to skip them in Discord's words; other errors as they are. */
export function inDiscordWords(error: unknown): unknown {
  return error instanceof BrokenHostsError ? error.withHowToSkip(skipBrokenInDiscord) : error;
}

/** ` Skipped (could not be read): thrower, typo.` for a reply; nothing when none was skipped. */
export function skippedNote(skipped: readonly SkippedHost[] | undefined): string {
  if (!skipped || skipped.length === 0) return '';
  return ` ${clip(`Skipped (could not be read): ${skipped.map((host) => `${host.name} (${host.reason})`).join('; ')}.`, 1200)}`;
}
