import { z } from 'zod';
import { flakeFailure, type NixSettings, runNix } from '../../transport/process/nix.js';

const metadataSchema = z.object({
  locked: z.looseObject({ narHash: z.string().optional(), rev: z.string().optional() }),
  locks: z.unknown().optional(),
});

export interface FlakeRevision {
  /** The locked content hash (narHash), or the git revision when nix reports no narHash. */
  readonly revision: string | null;
  /** The flake's lock graph: inputs locked differently are a different flake. */
  readonly locks: unknown;
}

/** Reads the flake's locked identity; also the cheapest way to learn that a flake reference is wrong. */
export async function flakeRevision(settings: NixSettings, flake: string): Promise<FlakeRevision> {
  const result = await runNix(settings, ['flake', 'metadata', '--json', '--no-write-lock-file', flake]);
  if (!result.ok) throw flakeFailure(flake, result.failure);
  const parsed = metadataSchema.safeParse(JSON.parse(result.stdout));
  if (!parsed.success) return { revision: null, locks: null };
  return {
    revision: parsed.data.locked.narHash ?? parsed.data.locked.rev ?? null,
    locks: parsed.data.locks ?? null,
  };
}
