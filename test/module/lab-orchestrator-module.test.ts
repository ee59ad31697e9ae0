import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = resolve(import.meta.dirname, '../..');
const harness = join(import.meta.dirname, 'eval-orchestrator.nix');
const nixFiles = [
  'nix/modules/lab-orchestrator.nix',
  'nix/modules/lab-orchestrator-script-example.nix',
  'nix/package.nix',
  'nix/npm-lock.nix',
  'nix/tests/orchestrator-host.nix',
  'nix/tests/orchestrator-vm.nix',
  'flake.nix',
  'test/module/eval-orchestrator.nix',
  'test/module/fake-nixpkgs/pkgs.nix',
  'test/module/fake-nixpkgs/nixos-stub.nix',
  'test/module/fake-nixpkgs/flake.nix',
];

const LIB_ENV = 'LAB_NIXPKGS_LIB';
const libPath = process.env[LIB_ENV] ? resolve(process.env[LIB_ENV]) : undefined;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface Unit {
  description: string;
  wantedBy?: string[];
  wants?: string[];
  after?: string[];
  environment: Record<string, string>;
  serviceConfig: Record<string, Json>;
}
interface Evaluation {
  failedAssertions: string[];
  warnings: string[];
  unit: Unit | null;
  timer: { wantedBy: string[]; timerConfig: Record<string, Json> } | null;
  redis: Record<string, Record<string, Json>>;
  knownHosts: string | null;
  script: string | null;
  commands: (string | null)[];
  options: { name: string; hasDescription: boolean; hasExample: boolean; hasDefault: boolean }[];
}

const made: string[] = [];
afterAll(async () => {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function temporaryDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/**
 * Evaluates the module (`orchestrator` or the script example, `rollout`) with the host's
 * configuration given as JSON; `labPath` stands in for the lab package's output directory.
 */
function evaluate(
  config: Json,
  options: { module?: 'orchestrator' | 'rollout'; labPath?: string; extraModule?: string } = {},
) {
  return execa(
    'nix-instantiate',
    [
      // The stand-in pkgs write text files to the store (builtins.toFile) for the tests to read.
      '--read-write-mode',
      '--eval',
      '--strict',
      '--json',
      harness,
      '--argstr',
      'lib',
      libPath ?? '',
      '--argstr',
      'module',
      options.module ?? 'orchestrator',
      '--argstr',
      'config',
      JSON.stringify(config),
      '--argstr',
      'labPath',
      options.labPath ?? '',
      '--argstr',
      'extraModule',
      options.extraModule ?? '',
    ],
    { reject: false, env: { NIX_CONFIG: 'substituters =' } },
  );
}

async function evaluateOk(config: Json, options: Parameters<typeof evaluate>[1] = {}): Promise<Evaluation> {
  const result = await evaluate(config, {
    labPath: '/nix/store/00000000000000000000000000000000-lab',
    ...options,
  });
  expect(result.exitCode, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Evaluation;
}

const orchestrator = (settings: Record<string, Json>): Json => ({
  services: { 'lab-orchestrator': settings },
});

/** The smallest working configuration. */
const minimal = {
  enable: true,
  flake: 'git+https://git.lab.example/homelab',
  ssh: {
    keyFile: '/run/secrets/lab-ssh-key',
    knownHosts: ['db.lab.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFRlc3Qga2V5'],
  },
};

/** A working configuration with Discord. */
const withDiscord = {
  ...minimal,
  discord: {
    enable: true,
    tokenFile: '/run/secrets/discord-token',
    applicationId: '123456789012345678',
    guildIds: ['234567890123456789', '234567890123456790'],
    operatorRoleIds: ['678901234567890123'],
    approverRoleIds: ['789012345678901234', '789012345678901235'],
  },
};

describe('nix/ and the flake: syntax', () => {
  it('every Nix file of the flake, the modules, the package and their test harness parses (nix-instantiate --parse)', async () => {
    for (const file of nixFiles) {
      const result = await execa('nix-instantiate', ['--parse', join(repoRoot, file)], { reject: false });
      expect(result.stderr, file).toBe('');
      expect(result.exitCode, file).toBe(0);
    }
  });

  it("nix/npm-lock.nix gives every package of package-lock.json npm's registry URL (no nixpkgs needed)", async () => {
    const result = await execa(
      'nix-instantiate',
      [
        '--eval',
        '--strict',
        '--json',
        '-E',
        `builtins.mapAttrs (_: p: p.resolved or null)
          (import ${repoRoot}/nix/npm-lock.nix (builtins.fromJSON (builtins.readFile ${repoRoot}/package-lock.json))).packages`,
      ],
      { reject: false },
    );
    expect(result.exitCode, result.stderr).toBe(0);
    const resolved = JSON.parse(result.stdout) as Record<string, string | null>;
    expect(resolved['']).toBeNull();
    expect(resolved['node_modules/ssh2']).toMatch(
      /^https:\/\/registry\.npmjs\.org\/ssh2\/-\/ssh2-\d+\.\d+\.\d+\.tgz$/,
    );
    expect(resolved['node_modules/@biomejs/biome']).toMatch(
      /^https:\/\/registry\.npmjs\.org\/@biomejs\/biome\/-\/biome-\d+\.\d+\.\d+\.tgz$/,
    );
    expect(resolved['node_modules/npm-run-path/node_modules/path-key']).toMatch(
      /^https:\/\/registry\.npmjs\.org\/path-key\/-\/path-key-\d+\.\d+\.\d+\.tgz$/,
    );
    expect(Object.entries(resolved).filter(([key, url]) => key !== '' && !url)).toEqual([]);
  });

  it('nix/npm-lock.nix keeps existing URLs, links and bundled packages, and resolves aliases by their real name', async () => {
    const lock = {
      lockfileVersion: 3,
      packages: {
        '': { name: 'x' },
        'node_modules/git-dep': { version: '1.0.0', resolved: 'git+ssh://git@example.org/dep.git#abc' },
        'node_modules/linked': { resolved: 'packages/linked', link: true },
        'node_modules/a/node_modules/bundled': { version: '2.0.0', inBundle: true },
        'node_modules/alias': { name: '@scope/real', version: '3.1.4', integrity: 'sha512-x' },
      },
    };
    const result = await execa(
      'nix-instantiate',
      [
        '--eval',
        '--strict',
        '--json',
        '-E',
        `import ${repoRoot}/nix/npm-lock.nix (builtins.fromJSON ${JSON.stringify(JSON.stringify(lock))})`,
      ],
      { reject: false },
    );
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).packages).toEqual({
      ...lock.packages,
      'node_modules/alias': {
        ...lock.packages['node_modules/alias'],
        resolved: 'https://registry.npmjs.org/@scope/real/-/real-3.1.4.tgz',
      },
    });
  });
});

describe.skipIf(libPath === undefined)(
  libPath
    ? `nix/modules/lab-orchestrator.nix evaluated by lib.evalModules (${LIB_ENV}=${libPath})`
    : `nix/modules/lab-orchestrator.nix evaluated by lib.evalModules: skipped, set ${LIB_ENV} to a nixpkgs.lib or nixpkgs checkout to run`,
  () => {
    it('runs `lab serve` with every variable lab reads, the SSH key as a credential, Redis on its unix socket', async () => {
      const { unit, failedAssertions, warnings, knownHosts } = await evaluateOk(orchestrator(minimal));
      expect(failedAssertions).toEqual([]);
      expect(warnings).toEqual([]);
      expect(unit?.serviceConfig.ExecStart).toBe(
        '/nix/store/00000000000000000000000000000000-lab/bin/lab serve',
      );
      expect(unit?.environment).toEqual({
        LAB_FLAKE: 'git+https://git.lab.example/homelab',
        REDIS_URL: 'unix:///run/redis-lab/redis.sock',
        LAB_QUEUE: 'lab',
        LAB_WORKER_CONCURRENCY: '4',
        LAB_APPROVALS_LOW: '0',
        LAB_APPROVALS_MEDIUM: '0',
        LAB_APPROVALS_HIGH: '1',
        LAB_APPROVALS_CRITICAL: '2',
        LAB_SELF_APPROVAL: '0',
        LAB_APPROVAL_TIMEOUT: '1800',
        LAB_HALT_TIMEOUT: '3600',
        LAB_MONITOR_INTERVAL: '60',
        LAB_MONITOR_FAILURES: '3',
        LAB_MONITOR_SUCCESSES: '2',
        LAB_MONITOR_FLAP_WINDOW: '900',
        LAB_SCHEDULE_FLAKE_UPDATE: '0',
        LAB_SCHEDULE_SKIP_BROKEN: '0',
        LAB_SSH_KEY: '%d/ssh-key',
        LAB_KNOWN_HOSTS: expect.stringMatching(/^\/nix\/store\/[a-z0-9]{32}-lab-known-hosts$/),
        LAB_CACHE_DIR: '/var/cache/lab-orchestrator',
        LAB_NIX: expect.stringMatching(/^\/nix\/store\/[a-z0-9]{32}-nix\/bin\/nix$/),
        NIX_REMOTE: 'daemon',
        HOME: '/var/lib/lab-orchestrator',
        XDG_CACHE_HOME: '/var/cache/lab-orchestrator',
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: 'safe.directory',
        GIT_CONFIG_VALUE_0: '*',
        LOG_LEVEL: 'info',
        LOG_FORMAT: 'json',
      });
      expect(knownHosts).toBe('db.lab.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFRlc3Qga2V5\n');
      expect(unit?.serviceConfig.LoadCredential).toEqual(['ssh-key:/run/secrets/lab-ssh-key']);
      expect(unit?.serviceConfig.EnvironmentFile).toEqual([]);
      expect(unit?.wantedBy).toEqual(['multi-user.target']);
      expect(unit?.wants).toEqual(['network-online.target', 'redis-lab.service']);
      expect(unit?.after).toEqual(['network-online.target', 'redis-lab.service']);
    });

    it('creates services.redis.servers.lab: unix socket only, append-only, noeviction; the service joins its group', async () => {
      const { unit, redis } = await evaluateOk(orchestrator(minimal));
      expect(redis).toEqual({
        lab: {
          enable: true,
          user: 'redis-lab',
          group: 'redis-lab',
          port: 0,
          unixSocket: '/run/redis-lab/redis.sock',
          appendOnly: true,
          settings: { 'maxmemory-policy': 'noeviction' },
        },
      });
      expect(unit?.environment.REDIS_URL).toBe(`unix://${redis.lab?.unixSocket}`);
      expect(unit?.serviceConfig.SupplementaryGroups).toEqual(['redis-lab']);
    });

    it('is a hardened dynamic-user service, stopped by SIGTERM within 60 s; no MemoryDenyWriteExecute (Node.js JIT)', async () => {
      const { unit } = await evaluateOk(orchestrator(minimal));
      expect(unit?.serviceConfig).toMatchObject({
        DynamicUser: true,
        StateDirectory: 'lab-orchestrator',
        CacheDirectory: 'lab-orchestrator',
        Restart: 'on-failure',
        TimeoutStopSec: 60,
        KillMode: 'mixed',
        NoNewPrivileges: true,
        ProtectSystem: 'strict',
        ProtectHome: 'read-only',
        PrivateTmp: true,
        PrivateDevices: true,
        ProtectKernelTunables: true,
        ProtectKernelModules: true,
        ProtectKernelLogs: true,
        ProtectControlGroups: true,
        ProtectClock: true,
        ProtectHostname: true,
        RestrictAddressFamilies: ['AF_UNIX', 'AF_INET', 'AF_INET6'],
        RestrictNamespaces: true,
        RestrictRealtime: true,
        RestrictSUIDSGID: true,
        LockPersonality: true,
        SystemCallArchitectures: 'native',
        SystemCallFilter: ['@system-service'],
        CapabilityBoundingSet: '',
        UMask: '0077',
        ReadWritePaths: [],
      });
      expect(unit?.serviceConfig.MemoryDenyWriteExecute).not.toBe(true);
      expect(unit?.serviceConfig).not.toHaveProperty('User');
    });

    it('hands secrets over as credentials only: their paths appear nowhere else in the unit', async () => {
      const { unit } = await evaluateOk(
        orchestrator({ ...withDiscord, environmentFile: '/run/secrets/lab.env' }),
      );
      const { LoadCredential, EnvironmentFile, ...rest } = unit?.serviceConfig ?? {};
      expect(LoadCredential).toEqual([
        'ssh-key:/run/secrets/lab-ssh-key',
        'discord-token:/run/secrets/discord-token',
      ]);
      expect(EnvironmentFile).toEqual(['/run/secrets/lab.env']);
      expect(unit?.environment.DISCORD_TOKEN_FILE).toBe('%d/discord-token');
      expect(unit?.environment.LAB_SSH_KEY).toBe('%d/ssh-key');
      const elsewhere = JSON.stringify({ ...unit, serviceConfig: rest });
      expect(elsewhere).not.toContain('/run/secrets');
    });

    it('sets the Discord variables from discord.*, comma-separated lists, optional ids only when given', async () => {
      const { unit, failedAssertions } = await evaluateOk(
        orchestrator({
          ...withDiscord,
          discord: {
            ...withDiscord.discord,
            channelId: '345678901234567890',
            alertChannelId: '456789012345678901',
            onCallRoleId: '567890123456789012',
            viewerRoleIds: ['890123456789012345'],
          },
        }),
      );
      expect(failedAssertions).toEqual([]);
      const discord = Object.fromEntries(
        Object.entries(unit?.environment ?? {}).filter(([name]) => name.startsWith('DISCORD_')),
      );
      expect(discord).toEqual({
        DISCORD_TOKEN_FILE: '%d/discord-token',
        DISCORD_APPLICATION_ID: '123456789012345678',
        DISCORD_GUILD_IDS: '234567890123456789,234567890123456790',
        DISCORD_CHANNEL_ID: '345678901234567890',
        DISCORD_ALERT_CHANNEL_ID: '456789012345678901',
        DISCORD_ONCALL_ROLE_ID: '567890123456789012',
        DISCORD_OPERATOR_ROLE_IDS: '678901234567890123',
        DISCORD_APPROVER_ROLE_IDS: '789012345678901234,789012345678901235',
        DISCORD_VIEWER_ROLE_IDS: '890123456789012345',
      });
      const minimalDiscord = await evaluateOk(orchestrator(withDiscord));
      expect(
        Object.keys(minimalDiscord.unit?.environment ?? {}).filter((name) => name.startsWith('DISCORD_')),
      ).toEqual([
        'DISCORD_APPLICATION_ID',
        'DISCORD_APPROVER_ROLE_IDS',
        'DISCORD_GUILD_IDS',
        'DISCORD_OPERATOR_ROLE_IDS',
        'DISCORD_TOKEN_FILE',
      ]);
    });

    it('sets schedule, approvals, queue, concurrency, log level; flakeUpdate makes the local flake writable', async () => {
      const { unit, failedAssertions, warnings } = await evaluateOk(
        orchestrator({
          ...minimal,
          flake: 'path:/srv/homelab?dir=hosts',
          queue: 'homelab',
          concurrency: 2,
          logLevel: 'debug',
          haltTimeout: 7200,
          schedule: { cron: '30 3 * * 1-5', timeZone: 'Europe/Berlin', flakeUpdate: true, skipBroken: true },
          maintenanceWindow: 'sat,sun 01:00-05:00 Europe/Berlin',
          approvals: { low: 0, medium: 1, high: 2, critical: 3, selfApproval: true, timeout: 600 },
        }),
      );
      expect(failedAssertions).toEqual([]);
      expect(warnings).toEqual([]);
      expect(unit?.environment).toMatchObject({
        LAB_FLAKE: 'path:/srv/homelab?dir=hosts',
        LAB_QUEUE: 'homelab',
        LAB_WORKER_CONCURRENCY: '2',
        LOG_LEVEL: 'debug',
        LAB_HALT_TIMEOUT: '7200',
        LAB_SCHEDULE: '30 3 * * 1-5',
        LAB_SCHEDULE_TZ: 'Europe/Berlin',
        LAB_SCHEDULE_FLAKE_UPDATE: '1',
        LAB_SCHEDULE_SKIP_BROKEN: '1',
        LAB_MAINTENANCE_WINDOW: 'sat,sun 01:00-05:00 Europe/Berlin',
        LAB_APPROVALS_LOW: '0',
        LAB_APPROVALS_MEDIUM: '1',
        LAB_APPROVALS_HIGH: '2',
        LAB_APPROVALS_CRITICAL: '3',
        LAB_SELF_APPROVAL: '1',
        LAB_APPROVAL_TIMEOUT: '600',
      });
      expect(unit?.serviceConfig.ReadWritePaths).toEqual(['/srv/homelab']);
    });

    it('extraEnvironment overrides and adds variables; a % is kept literally (%% for systemd), %d only in credential paths', async () => {
      const { unit } = await evaluateOk(
        orchestrator({
          ...minimal,
          flake: 'git+https://git.lab.example/my%20homelab',
          extraEnvironment: { LOG_FORMAT: 'pretty', LAB_ACTIVE_WAIT: '300', NOTE: '100%d' },
        }),
      );
      expect(unit?.environment).toMatchObject({
        LOG_FORMAT: 'pretty',
        LAB_ACTIVE_WAIT: '300',
        NOTE: '100%%d',
        LAB_FLAKE: 'git+https://git.lab.example/my%%20homelab',
        LAB_SSH_KEY: '%d/ssh-key',
      });
    });

    it('reads a known_hosts file as a credential instead of knownHosts lines', async () => {
      const { unit, knownHosts } = await evaluateOk(
        orchestrator({
          ...minimal,
          ssh: { keyFile: '/run/secrets/lab-ssh-key', knownHostsFile: '/etc/ssh/ssh_known_hosts' },
        }),
      );
      expect(unit?.environment.LAB_KNOWN_HOSTS).toBe('%d/known-hosts');
      expect(knownHosts).toBeNull();
      expect(unit?.serviceConfig.LoadCredential).toEqual([
        'ssh-key:/run/secrets/lab-ssh-key',
        'known-hosts:/etc/ssh/ssh_known_hosts',
      ]);
    });

    it('with redis.createLocally = false: no Redis server, no group, REDIS_URL from redis.url (default redis://127.0.0.1:6379)', async () => {
      const local = await evaluateOk(orchestrator({ ...minimal, redis: { createLocally: false } }));
      expect(local.redis).toEqual({});
      expect(local.unit?.environment.REDIS_URL).toBe('redis://127.0.0.1:6379');
      expect(local.unit?.serviceConfig.SupplementaryGroups).toEqual([]);
      expect(local.unit?.wants).toEqual(['network-online.target']);
      const remote = await evaluateOk(
        orchestrator({ ...minimal, redis: { createLocally: false, url: 'rediss://redis.lab.example:6380' } }),
      );
      expect(remote.unit?.environment.REDIS_URL).toBe('rediss://redis.lab.example:6380');
    });

    it('does nothing unless enabled', async () => {
      const { unit, redis, failedAssertions } = await evaluateOk(orchestrator({ ...minimal, enable: false }));
      expect(unit).toBeNull();
      expect(redis).toEqual({});
      expect(failedAssertions).toEqual([]);
    });

    it("installs a `lab` command preset to the service's Redis, queue and flake; the caller's environment wins", async () => {
      // A stand-in lab that prints what it got.
      const dir = await temporaryDir('lab-cli-package-');
      await mkdir(join(dir, 'bin'));
      await writeFile(
        join(dir, 'bin/lab'),
        '#!/usr/bin/env bash\nprintf "%s\\n" "REDIS_URL=$REDIS_URL" "LAB_QUEUE=$LAB_QUEUE" "LAB_FLAKE=$LAB_FLAKE" "$@"\n',
      );
      await chmod(join(dir, 'bin/lab'), 0o755);
      const flake = 'path:/srv/odd "lab" $HOME `id`';
      const { commands } = await evaluateOk(orchestrator({ ...minimal, flake, queue: 'homelab' }), {
        labPath: dir,
      });
      expect(commands).toHaveLength(1);
      const command = join(dir, 'lab-command');
      await writeFile(command, commands[0] ?? '');
      const env = { PATH: process.env.PATH ?? '' };
      const preset = await execa('bash', [command, 'approve', 'r1', 'db'], { env });
      expect(preset.stdout.split('\n')).toEqual([
        'REDIS_URL=unix:///run/redis-lab/redis.sock',
        'LAB_QUEUE=homelab',
        `LAB_FLAKE=${flake}`,
        'approve',
        'r1',
        'db',
      ]);
      const own = await execa('bash', [command, 'status'], {
        env: { ...env, REDIS_URL: 'redis://elsewhere:6379' },
      });
      expect(own.stdout.split('\n')[0]).toBe('REDIS_URL=redis://elsewhere:6379');
      const none = await evaluateOk(orchestrator({ ...minimal, cli: { enable: false } }));
      expect(none.commands).toEqual([]);
    });

    it("defaults `package` to the repository's nix/package.nix built with the host's pkgs", async () => {
      const { unit } = await evaluateOk(orchestrator(minimal), { labPath: '' });
      expect(unit?.serviceConfig.ExecStart).toMatch(
        /^\/nix\/store\/[a-z0-9]{32}-lab-0\.1\.0\/bin\/lab serve$/,
      );
    });

    it('asserts what Discord needs, naming each option', async () => {
      const { failedAssertions } = await evaluateOk(orchestrator({ ...minimal, discord: { enable: true } }));
      expect(failedAssertions).toEqual([
        "services.lab-orchestrator.discord.enable needs discord.tokenFile: the bot token's file, e.g. /run/secrets/discord-token",
        'services.lab-orchestrator.discord.enable needs discord.guildIds: at least one guild (server) id the bot answers in',
        'services.lab-orchestrator.discord.enable needs discord.operatorRoleIds: at least one role id allowed to start and steer runs',
        'services.lab-orchestrator.discord.enable needs discord.approverRoleIds: at least one role id allowed to approve',
      ]);
      const badIds = await evaluateOk(
        orchestrator({
          ...withDiscord,
          discord: { ...withDiscord.discord, guildIds: ['my-server'], channelId: '12' },
        }),
      );
      expect(badIds.failedAssertions).toEqual([
        'services.lab-orchestrator.discord.channelId: Discord ids are 5 to 25 digits, not `12`',
        'services.lab-orchestrator.discord.guildIds: Discord ids are 5 to 25 digits, not `my-server`',
      ]);
    });

    it('asserts the SSH key and host keys are given', async () => {
      const noKey = await evaluateOk(
        orchestrator({ ...minimal, ssh: { knownHosts: minimal.ssh.knownHosts } }),
      );
      expect(noKey.failedAssertions).toEqual([
        'services.lab-orchestrator.ssh.keyFile must be set: the private key lab logs into the machines with, e.g. /run/secrets/lab-ssh-key',
      ]);
      const noHosts = await evaluateOk(orchestrator({ ...minimal, ssh: { keyFile: minimal.ssh.keyFile } }));
      expect(noHosts.failedAssertions).toEqual([
        'services.lab-orchestrator: set ssh.knownHosts (known_hosts lines) or ssh.knownHostsFile: lab never trusts a host key on first use',
      ]);
      const both = await evaluateOk(
        orchestrator({ ...minimal, ssh: { ...minimal.ssh, knownHostsFile: '/etc/ssh/ssh_known_hosts' } }),
      );
      expect(both.failedAssertions).toEqual([
        'services.lab-orchestrator: set ssh.knownHosts or ssh.knownHostsFile, not both (lab reads one known_hosts file)',
      ]);
    });

    it('refuses relative secret paths and secrets in the Nix store', async () => {
      const { failedAssertions } = await evaluateOk(
        orchestrator({
          ...withDiscord,
          ssh: { ...minimal.ssh, keyFile: 'secrets/lab-ssh-key' },
          discord: {
            ...withDiscord.discord,
            tokenFile: '/nix/store/00000000000000000000000000000000-discord-token',
          },
          environmentFile: 'lab.env',
        }),
      );
      expect(failedAssertions).toEqual([
        'services.lab-orchestrator.discord.tokenFile must not be in the Nix store (`/nix/store/00000000000000000000000000000000-discord-token`): the store is world-readable; use a path outside it, e.g. /run/secrets/…',
        'services.lab-orchestrator.environmentFile must be an absolute path, not `lab.env` (the service does not run in your directory)',
        'services.lab-orchestrator.ssh.keyFile must be an absolute path, not `secrets/lab-ssh-key` (the service does not run in your directory)',
      ]);
    });

    it('refuses a Nix path literal as a secret file (it would be copied into the store)', async () => {
      const dir = await temporaryDir('lab-orchestrator-case-');
      await writeFile(join(dir, 'key'), 'not a real key\n');
      await writeFile(join(dir, 'case.nix'), '{ services.lab-orchestrator.ssh.keyFile = ./key; }\n');
      const result = await evaluate(orchestrator(minimal), {
        labPath: '/nix/store/00000000000000000000000000000000-lab',
        extraModule: join(dir, 'case.nix'),
      });
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain('services.lab-orchestrator.ssh.keyFile');
      expect(result.stderr).toContain('is not of type');
    });

    it('checks the Redis URL, the cron expression and what flakeUpdate needs', async () => {
      const { failedAssertions, warnings } = await evaluateOk(
        orchestrator({
          ...minimal,
          redis: { url: 'http://redis:6379' },
          schedule: { cron: 'every night', flakeUpdate: true },
        }),
      );
      expect(failedAssertions).toEqual([
        'services.lab-orchestrator.redis.url must start with redis://, rediss:// or unix:/// (not `http://redis:6379`)',
        'services.lab-orchestrator.schedule.cron must be a cron expression of 5 or 6 fields, e.g. "0 3 * * *" (not `every night`)',
        'services.lab-orchestrator.schedule.flakeUpdate writes flake.lock, so flake must be a local flake (an absolute path, path:/… or git+file:///…), not `git+https://git.lab.example/homelab`',
      ]);
      expect(warnings).toEqual([]);
      const noCron = await evaluateOk(
        orchestrator({ ...minimal, flake: '/etc/nixos', schedule: { flakeUpdate: true } }),
      );
      expect(noCron.failedAssertions).toEqual([]);
      expect(noCron.warnings).toEqual([
        'services.lab-orchestrator.schedule.flakeUpdate has no effect without schedule.cron',
      ]);
    });

    it('sets LAB_COPY_CONCURRENCY from copyConcurrency (default 4; 0 copies only at each turn)', async () => {
      const defaults = await evaluateOk(orchestrator(minimal));
      expect(defaults.unit?.environment).toMatchObject({ LAB_COPY_CONCURRENCY: '4' });
      const none = await evaluateOk(orchestrator({ ...minimal, copyConcurrency: 0 }));
      expect(none.failedAssertions).toEqual([]);
      expect(none.unit?.environment).toMatchObject({ LAB_COPY_CONCURRENCY: '0' });
      const tooMany = await evaluate(orchestrator({ ...minimal, copyConcurrency: 65 }), {
        labPath: '/nix/store/x-lab',
      });
      expect(tooMany.exitCode).not.toBe(0);
      expect(tooMany.stderr).toContain('services.lab-orchestrator.copyConcurrency');
    });

    it('rejects values of the wrong type, naming the option', async () => {
      for (const [settings, option, value] of [
        [{ logLevel: 'verbose' }, 'services.lab-orchestrator.logLevel', '"verbose"'],
        [{ concurrency: 0 }, 'services.lab-orchestrator.concurrency', '0'],
        [{ approvals: { critical: 11 } }, 'services.lab-orchestrator.approvals.critical', '11'],
        [{ queue: 'lab queue' }, 'services.lab-orchestrator.queue', '"lab queue"'],
      ] as const) {
        const result = await evaluate(orchestrator({ ...minimal, ...settings }), {
          labPath: '/nix/store/x-lab',
        });
        expect(result.exitCode, option).not.toBe(0);
        expect(result.stderr, option).toContain(option);
        expect(result.stderr, option).toContain('is not of type');
        expect(result.stderr, option).toContain(value);
      }
    });

    it('documents every option with a description and an example', async () => {
      const { options } = await evaluateOk(orchestrator(minimal));
      expect(options.map((option) => option.name).sort()).toEqual(
        [
          'approvals.critical',
          'approvals.high',
          'approvals.low',
          'approvals.medium',
          'approvals.selfApproval',
          'approvals.timeout',
          'cli.enable',
          'concurrency',
          'copyConcurrency',
          'discord.alertChannelId',
          'discord.applicationId',
          'discord.approverRoleIds',
          'discord.channelId',
          'discord.enable',
          'discord.guildIds',
          'discord.onCallRoleId',
          'discord.operatorRoleIds',
          'discord.tokenFile',
          'discord.viewerRoleIds',
          'enable',
          'environmentFile',
          'extraEnvironment',
          'flake',
          'haltTimeout',
          'logLevel',
          'maintenanceWindow',
          'metrics.listen',
          'metrics.openFirewall',
          'monitor.failureThreshold',
          'monitor.flapWindow',
          'monitor.interval',
          'monitor.successThreshold',
          'package',
          'queue',
          'redis.createLocally',
          'redis.url',
          'schedule.cron',
          'schedule.flakeUpdate',
          'schedule.skipBroken',
          'schedule.timeZone',
          'ssh.keyFile',
          'ssh.knownHosts',
          'ssh.knownHostsFile',
        ].map((name) => `services.lab-orchestrator.${name}`),
      );
      expect(options.filter((option) => !option.hasDescription || !option.hasExample)).toEqual([]);
      // Only the flake has no default: lab cannot guess which homelab it is about.
      expect(options.filter((option) => !option.hasDefault).map((option) => option.name)).toEqual([
        'services.lab-orchestrator.flake',
      ]);
    });
  },
);

describe.skipIf(libPath === undefined)(
  libPath
    ? `nix/modules/lab-orchestrator-script-example.nix: the seed's script as a service and timer (${LIB_ENV}=${libPath})`
    : `nix/modules/lab-orchestrator-script-example.nix: skipped, set ${LIB_ENV} to a nixpkgs.lib or nixpkgs checkout to run`,
  () => {
    const rollout = {
      services: {
        'lab-rollout': {
          enable: true,
          flake: '/etc/nixos',
          sshKeyFile: '/run/secrets/lab-ssh-key',
          knownHostsFile: '/etc/ssh/ssh_known_hosts',
        },
      },
    };

    /**
     * A stand-in `lab` that logs its arguments (each in <>) and plays the seed's commands: deploy-all exits
     * $DEPLOY_RC, get-reboot-sequence prints $SEQUENCE (or exits $SEQUENCE_RC), reboot reads
     * its stdin away and fails for $FAIL_ON.
     */
    async function fakeLab(): Promise<string> {
      const dir = await temporaryDir('lab-fake-package-');
      await mkdir(join(dir, 'bin'));
      const lab = join(dir, 'bin/lab');
      await writeFile(
        lab,
        `#!/usr/bin/env bash
{ printf '<%s>' "$@"; echo; } >>"$LAB_LOG"
case "$1" in
  deploy-all) exit "\${DEPLOY_RC:-0}" ;;
  get-reboot-sequence) [ "\${SEQUENCE_RC:-0}" = 0 ] || exit "$SEQUENCE_RC"; printf '%s' "$SEQUENCE" ;;
  reboot) cat >/dev/null; [ "\${!#}" != "\${FAIL_ON:-}" ] ;;
  *) exit 64 ;;
esac
`,
      );
      await chmod(lab, 0o755);
      return dir;
    }

    async function runScript(script: string, env: Record<string, string>) {
      const dir = await temporaryDir('lab-rollout-run-');
      const log = join(dir, 'calls');
      await writeFile(log, '');
      const result = await execa('bash', [script], {
        cwd: dir,
        env: { ...env, LAB_LOG: log, PATH: process.env.PATH ?? '' },
        reject: false,
        timeout: 20_000,
      });
      const calls = (await execa('cat', [log])).stdout.split('\n').filter(Boolean);
      return { ...result, calls, files: await readdir(dir) };
    }

    it('is a oneshot service on a persistent timer, with the key as a credential', async () => {
      const { unit, timer, failedAssertions } = await evaluateOk(rollout, { module: 'rollout' });
      expect(failedAssertions).toEqual([]);
      expect(unit?.serviceConfig).toMatchObject({
        Type: 'oneshot',
        DynamicUser: true,
        LoadCredential: ['ssh-key:/run/secrets/lab-ssh-key', 'known-hosts:/etc/ssh/ssh_known_hosts'],
      });
      expect(unit?.serviceConfig.MemoryDenyWriteExecute).not.toBe(true);
      expect(unit?.environment).toMatchObject({
        LAB_FLAKE: '/etc/nixos',
        LAB_SSH_KEY: '%d/ssh-key',
        LAB_KNOWN_HOSTS: '%d/known-hosts',
        NIX_REMOTE: 'daemon',
      });
      expect(timer).toEqual({
        description: expect.any(String),
        wantedBy: ['timers.target'],
        timerConfig: { OnCalendar: 'Sun 04:00', Persistent: true },
      });
      const inStore = await evaluateOk(
        {
          services: { 'lab-rollout': { ...rollout.services['lab-rollout'], sshKeyFile: '/nix/store/x-key' } },
        },
        { module: 'rollout' },
      );
      expect(inStore.failedAssertions).toEqual([
        'services.lab-rollout.sshKeyFile must be an absolute path outside the Nix store, not `/nix/store/x-key`',
      ]);
    });

    it('deploys all, then reboots each machine of get-reboot-sequence in order with --yes, names as single arguments, no sleep', async () => {
      const lab = await fakeLab();
      const { script } = await evaluateOk(rollout, { module: 'rollout', labPath: lab });
      const path = join(await temporaryDir('lab-rollout-script-'), 'script');
      await writeFile(path, script ?? '');
      expect((await execa('bash', ['-n', path], { reject: false })).exitCode).toBe(0);
      expect(script).toContain('set -euo pipefail');

      // Delays of minutes: the script must not wait them itself (lab reboot does).
      const run = await runScript(path, { SEQUENCE: 'nas:600\ndb:60\nodd name $(touch pwned):30\n' });
      expect(run.exitCode, run.stderr).toBe(0);
      expect(run.calls).toEqual([
        '<deploy-all><--yes>',
        '<get-reboot-sequence>',
        '<reboot><--yes><nas>',
        '<reboot><--yes><db>',
        '<reboot><--yes><odd name $(touch pwned)>',
      ]);
      expect(run.files).not.toContain('pwned');
    });

    it('stops at the first failure: a failed reboot, a failed deploy, a failed plan', async () => {
      const lab = await fakeLab();
      const { script } = await evaluateOk(rollout, { module: 'rollout', labPath: lab });
      const path = join(await temporaryDir('lab-rollout-script-'), 'script');
      await writeFile(path, script ?? '');
      const sequence = 'nas:0\ndb:0\nweb:0\n';

      const reboot = await runScript(path, { SEQUENCE: sequence, FAIL_ON: 'db' });
      expect(reboot.exitCode).not.toBe(0);
      expect(reboot.calls).toEqual([
        '<deploy-all><--yes>',
        '<get-reboot-sequence>',
        '<reboot><--yes><nas>',
        '<reboot><--yes><db>',
      ]);
      expect(reboot.stderr).toContain('the reboot of db failed');

      const deploy = await runScript(path, { SEQUENCE: sequence, DEPLOY_RC: '1' });
      expect(deploy.exitCode).not.toBe(0);
      expect(deploy.calls).toEqual(['<deploy-all><--yes>']);

      const plan = await runScript(path, { SEQUENCE: sequence, SEQUENCE_RC: '2' });
      expect(plan.exitCode).not.toBe(0);
      expect(plan.calls).toEqual(['<deploy-all><--yes>', '<get-reboot-sequence>']);

      const empty = await runScript(path, { SEQUENCE: '' });
      expect(empty.exitCode).toBe(0);
      expect(empty.calls).toEqual(['<deploy-all><--yes>', '<get-reboot-sequence>']);
    });
  },
);
