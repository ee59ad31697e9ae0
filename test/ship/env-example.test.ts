import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { logSettings } from '../../src/cli/logger.js';
import { flakeSettings } from '../../src/cli/settings.js';
import { discordConfig } from '../../src/discord/discord-config.js';
import { defaultCacheDir } from '../../src/domain/inventory/inventory-cache.js';
import { queueConfig } from '../../src/orchestration/queue/queue-config.js';
import { KNOWN_VARIABLES } from '../../src/util/known-variables.js';
import {
  composeInterpolations,
  documentedDefault,
  parseEnvExample,
  readCompose,
  readText,
  serviceEnvironment,
  variablesReadBySource,
} from './ship-files.js';

const entries = parseEnvExample(readText('.env.example'));
const documented = new Map(entries.map((entry) => [entry.name, entry]));
const compose = readCompose();
const composeEnvironment = serviceEnvironment(compose.services.lab as Record<string, unknown>);
const readBySource = variablesReadBySource();

// The Discord token file that docker-compose.yml names exists only in the container.
const scratch = mkdtempSync(join(tmpdir(), 'lab-ship-env-'));
const tokenFile = join(scratch, 'discord_token');
writeFileSync(tokenFile, 'placeholder-token\n');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** What a user must fill in (the example leaves these empty on purpose). */
const REQUIRED_PLACEHOLDERS = {
  DISCORD_GUILD_IDS: '100000000000000001',
  DISCORD_OPERATOR_ROLE_IDS: '100000000000000002',
  DISCORD_APPROVER_ROLE_IDS: '100000000000000003',
};

/** The environment of lab serve in the container: compose's fixed variables, then .env. */
function containerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const dotEnv = Object.fromEntries(
    entries.filter((entry) => entry.active).map((entry) => [entry.name, entry.value]),
  );
  return {
    ...dotEnv,
    ...REQUIRED_PLACEHOLDERS,
    ...composeEnvironment,
    DISCORD_TOKEN_FILE: tokenFile,
    ...extra,
  };
}

const notATerminal = { isTTY: false } as NodeJS.WriteStream;

/** Everything lab derives from its environment at start-up; throws what lab would refuse. */
function labConfiguration(env: NodeJS.ProcessEnv) {
  const flake = flakeSettings({}, env);
  return {
    queue: queueConfig(env),
    discord: discordConfig(env),
    flake: flake.flake,
    nix: flake.nix,
    cacheOn: flake.cache !== undefined,
    cacheDir: defaultCacheDir(env),
    log: logSettings(env, notATerminal),
  };
}

describe('.env.example', () => {
  it('knows every variable src/ reads, so that only misspelt ones are warned about', () => {
    const unknown = [...readBySource.keys()].filter((name) => !KNOWN_VARIABLES.has(name));
    expect(unknown, 'read by src/ but missing from KNOWN_VARIABLES').toEqual([]);
    const undocumented = [...KNOWN_VARIABLES].filter((name) => !documented.has(name));
    expect(undocumented, 'in KNOWN_VARIABLES but not in .env.example').toEqual([]);
  });

  it('documents every variable lab reads', () => {
    expect(readBySource.size).toBeGreaterThan(30);
    const missing = [...readBySource.keys()].filter((name) => !documented.has(name));
    expect(missing, 'read by src/ but not in .env.example').toEqual([]);
  });

  it('documents nothing that neither lab nor docker-compose.yml reads', () => {
    const interpolated = new Set(composeInterpolations(compose).map((use) => use.name));
    const unused = [...documented.keys()].filter(
      (name) => !readBySource.has(name) && !interpolated.has(name),
    );
    expect(unused).toEqual([]);
  });

  it('leaves out the variables lab sets for nix itself', () => {
    expect(documented.has('LAB_EVAL_HOST')).toBe(false);
    expect(documented.has('LAB_EVAL_HOSTS')).toBe(false);
  });

  it('names each variable once, each with a description', () => {
    const names = entries.map((entry) => entry.name);
    expect(names.length).toBe(new Set(names).size);
    for (const entry of entries) expect(entry.description.length, entry.name).toBeGreaterThan(10);
  });

  it('shows the variables docker-compose.yml fixes as set there, with its values, commented out', () => {
    expect(Object.keys(composeEnvironment).length).toBeGreaterThanOrEqual(5);
    for (const [name, value] of Object.entries(composeEnvironment)) {
      const entry = documented.get(name);
      expect(entry, name).toBeDefined();
      expect(entry?.active, name).toBe(false);
      expect(entry?.value, name).toBe(value);
      expect(entry?.description, name).toMatch(/set by docker-compose\.yml/i);
    }
  });

  it('sets only the required Discord variables, left empty, which lab refuses by name until filled in', () => {
    const active = entries.filter((entry) => entry.active);
    expect(active.map((entry) => entry.name).sort()).toEqual(Object.keys(REQUIRED_PLACEHOLDERS).sort());
    for (const entry of active) {
      expect(entry.value, entry.name).toBe('');
      expect(entry.description, entry.name).toMatch(/^Required/);
    }
    const asShipped = { ...containerEnv() };
    for (const name of Object.keys(REQUIRED_PLACEHOLDERS)) asShipped[name] = documented.get(name)?.value;
    expect(() => labConfiguration(asShipped)).toThrow(
      /DISCORD_GUILD_IDS: .*DISCORD_OPERATOR_ROLE_IDS: .*DISCORD_APPROVER_ROLE_IDS: /,
    );
    expect(() => labConfiguration(containerEnv())).not.toThrow();
  });

  it('shows, for every optional variable, a value lab accepts', () => {
    const optional = entries.filter((entry) => !entry.active);
    expect(optional.length).toBeGreaterThan(30);
    for (const entry of optional) {
      // Those are compose's own values, part of every check here (the token file's path is
      // replaced: it exists only in the container).
      if (entry.name in composeEnvironment) continue;
      const env = containerEnv({ [entry.name]: entry.value });
      if (entry.value === '') {
        // Shown empty (a passphrase, a token): uncommented as it is, it must mean unset.
        const unset = containerEnv();
        delete unset[entry.name];
        expect(labConfiguration(env), entry.name).toEqual(labConfiguration(unset));
      } else {
        expect(() => labConfiguration(env), `${entry.name}=${entry.value}`).not.toThrow();
      }
    }
  });

  it("states lab's real defaults", () => {
    const base = labConfiguration(containerEnv());
    const checked: string[] = [];
    for (const entry of entries) {
      const stated = documentedDefault(entry.description);
      if (stated === undefined || stated === 'unset' || entry.active) continue;
      // A commented-out variable with a default shows that default.
      expect(entry.value, entry.name).toBe(stated);
      if (entry.name in composeEnvironment) continue;
      const env = containerEnv();
      delete env[entry.name];
      const withoutIt = labConfiguration(env);
      // Only variables that lab's configuration reads can be checked this way.
      let influences: boolean;
      try {
        influences =
          JSON.stringify(labConfiguration({ ...env, [entry.name]: 'x-not-the-default-9' })) !==
          JSON.stringify(withoutIt);
      } catch {
        influences = true;
      }
      if (!influences) continue;
      expect(labConfiguration({ ...env, [entry.name]: stated }), `${entry.name} default ${stated}`).toEqual(
        withoutIt,
      );
      checked.push(entry.name);
    }
    expect(base.queue.approvals.required).toEqual({ low: 0, medium: 0, high: 1, critical: 2 });
    expect(checked.sort()).toEqual(
      [
        'DISCORD_API_URL',
        'DISCORD_EDIT_INTERVAL_MS',
        'LAB_ACTIVE_WAIT',
        'LAB_APPROVALS_CRITICAL',
        'LAB_APPROVALS_HIGH',
        'LAB_APPROVALS_LOW',
        'LAB_APPROVALS_MEDIUM',
        'LAB_APPROVAL_TIMEOUT',
        'LAB_COPY_CONCURRENCY',
        'LAB_HALT_TIMEOUT',
        'LAB_HEALTH_TIMEOUT',
        'LAB_LOCK_DURATION_MS',
        'LAB_NIX',
        'LAB_PARK_POLL',
        'LAB_QUEUE',
        'LAB_REBOOT_TIMEOUT',
        'LAB_SCHEDULE_FLAKE_UPDATE',
        'LAB_SCHEDULE_SKIP_BROKEN',
        'LAB_SELF_APPROVAL',
        'LAB_WORKER_CONCURRENCY',
        'LOG_FORMAT',
        'LOG_LEVEL',
      ].sort(),
    );
  });

  it('is read the same by util.parseEnv as written: no quotes, no inline comments, one line per value', () => {
    for (const entry of entries) {
      expect(entry.value, entry.name).not.toMatch(/^['"]|['"]$| #/);
    }
    expect(documented.get('LAB_SCHEDULE')?.value).toBe('0 3 * * *');
  });
});
