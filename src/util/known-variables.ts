/**
 * Every environment variable lab reads (and the two docker-compose.yml reads from the same .env),
 * so that a misspelt one is pointed out instead of silently ignored.
 */
export const KNOWN_VARIABLES: ReadonlySet<string> = new Set([
  'REDIS_URL',
  'LAB_QUEUE',
  'LAB_WORKER_CONCURRENCY',
  'LAB_COPY_CONCURRENCY',
  'LAB_LOCK_DURATION_MS',
  'LAB_ACTIVE_WAIT',
  'LAB_PARK_POLL',
  'LAB_HALT_TIMEOUT',
  'LAB_REBOOT_TIMEOUT',
  'LAB_HEALTH_TIMEOUT',
  'LAB_APPROVALS_LOW',
  'LAB_APPROVALS_MEDIUM',
  'LAB_APPROVALS_HIGH',
  'LAB_APPROVALS_CRITICAL',
  'LAB_SELF_APPROVAL',
  'LAB_APPROVAL_TIMEOUT',
  'LAB_SCHEDULE',
  'LAB_SCHEDULE_TZ',
  'LAB_SCHEDULE_FLAKE_UPDATE',
  'LAB_SCHEDULE_SKIP_BROKEN',
  'LAB_MAINTENANCE_WINDOW',
  'LAB_FLAKE',
  'LAB_NIX',
  'LAB_NO_CACHE',
  'LAB_CACHE_DIR',
  'LAB_SSH_KEY',
  'LAB_SSH_KEY_PASSPHRASE',
  'LAB_KNOWN_HOSTS',
  'LAB_USER',
  'LAB_MONITOR_INTERVAL',
  'LAB_MONITOR_FAILURES',
  'LAB_MONITOR_SUCCESSES',
  'LAB_MONITOR_FLAP_WINDOW',
  'LAB_METRICS_LISTEN',
  'DISCORD_TOKEN',
  'DISCORD_TOKEN_FILE',
  'DISCORD_APPLICATION_ID',
  'DISCORD_GUILD_IDS',
  'DISCORD_CHANNEL_ID',
  'DISCORD_ALERT_CHANNEL_ID',
  'DISCORD_ONCALL_ROLE_ID',
  'DISCORD_OPERATOR_ROLE_IDS',
  'DISCORD_APPROVER_ROLE_IDS',
  'DISCORD_VIEWER_ROLE_IDS',
  'DISCORD_API_URL',
  'DISCORD_EDIT_INTERVAL_MS',
  'LOG_LEVEL',
  'LOG_FORMAT',
  // docker-compose.yml's own, passed on by its env_file.
  'LAB_FLAKE_DIR',
  'LAB_SECRETS_DIR',
]);

/** Prefixes that mark a variable as lab's. */
const OURS = /^(LAB_|DISCORD_)/;

/** Variables set for lab's own child processes or its tests, never by users. */
const INTERNAL = new Set(['LAB_EVAL_HOST', 'LAB_EVAL_HOSTS', 'LAB_NIXPKGS_LIB']);

/** `LAB_*` and `DISCORD_*` variables lab does not know, each with the known name it is closest to. */
export function unknownVariables(env: NodeJS.ProcessEnv): { name: string; suggestion: string | null }[] {
  return Object.keys(env)
    .filter((name) => OURS.test(name) && !KNOWN_VARIABLES.has(name) && !INTERNAL.has(name))
    .sort()
    .map((name) => ({ name, suggestion: closest(name) }));
}

function closest(name: string): string | null {
  let best: { name: string; distance: number } | null = null;
  for (const known of KNOWN_VARIABLES) {
    const distance = editDistance(name, known);
    if (distance <= 3 && (!best || distance < best.distance)) best = { name: known, distance };
  }
  return best?.name ?? null;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
