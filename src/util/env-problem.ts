import type { z } from 'zod';

/**
 * One problem with an environment variable, for people: `DISCORD_GUILD_IDS: is required` rather
 * than zod's "Invalid input: expected string, received undefined".
 */
export function envProblem(issue: z.core.$ZodIssue): string {
  const name = String(issue.path[0] ?? 'environment');
  const missing = issue.code === 'invalid_type' && /received undefined$/.test(issue.message);
  return `${name}: ${missing ? 'is required' : issue.message}`;
}
