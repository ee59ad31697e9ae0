import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = resolve(import.meta.dirname, '../..');
const exampleDir = join(repoRoot, 'examples/homelab');
const hostNames = ['db', 'nas', 'router', 'sleeper-service', 'web'];

const LIB_ENV = 'LAB_NIXPKGS_LIB';
const libPath = process.env[LIB_ENV] ? resolve(process.env[LIB_ENV]) : undefined;

const nixEnv = { NIX_CONFIG: 'substituters =' };
const flakes = ['--extra-experimental-features', 'nix-command flakes'];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface Machine {
  rebootOrder: number;
  dependencies?: string[];
  orchestration?: { criticalityLevel?: string };
  ssh?: { host?: string };
  monitor?: { [field: string]: Json };
  [field: string]: Json | undefined;
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

/** Makes `dir` a git repository with every file added: a flake in it then sees its parent directories. */
async function gitAddAll(dir: string): Promise<void> {
  await execa('git', ['init', '-q', '.'], { cwd: dir });
  await execa('git', ['add', '-A'], { cwd: dir });
}

async function nixEvalJson<T>(args: string[]): Promise<T> {
  const result = await execa('nix', [...flakes, 'eval', '--json', ...args], { env: nixEnv, reject: false });
  expect(result.exitCode, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/** A host's metadata file, as Nix reads it. */
async function labFile(name: string): Promise<Machine> {
  const file = join(exampleDir, 'hosts', `${name}.lab.nix`);
  const result = await execa('nix-instantiate', ['--eval', '--strict', '--json', file]);
  return JSON.parse(result.stdout) as Machine;
}

/** What the module makes of a metadata file on a host without a domain: every default filled in. */
function withDefaults(name: string, machine: Machine): Json {
  const check = { url: null, port: null, command: null, timeout: 5, expectStatus: null };
  return {
    groups: [],
    dependencies: [],
    ...machine,
    healthChecks: ((machine.healthChecks ?? []) as object[]).map((c) => ({ ...check, ...c })),
    orchestration: {
      deployStrategy: 'rolling',
      rebootDelay: 600,
      criticalityLevel: 'medium',
      maintenanceWindow: null,
      ...machine.orchestration,
    },
    ssh: { host: name, port: 22, user: 'root', ...machine.ssh },
    monitor: {
      enable: true,
      interval: null,
      failureThreshold: null,
      successThreshold: null,
      ...machine.monitor,
    },
  } as Json;
}

describe('examples/homelab', () => {
  it('has valid Nix syntax in every file (nix-instantiate --parse)', async () => {
    const files = [
      'flake.nix',
      'offline/flake.nix',
      ...(await readdir(join(exampleDir, 'hosts'))).map((file) => `hosts/${file}`),
    ];
    expect(files).toContain('hosts/common.nix');
    for (const name of hostNames)
      expect(files).toEqual(expect.arrayContaining([`hosts/${name}.nix`, `hosts/${name}.lab.nix`]));
    for (const file of files) {
      const result = await execa('nix-instantiate', ['--parse', join(exampleDir, file)], { reject: false });
      expect(result.exitCode, `${file}: ${result.stderr}`).toBe(0);
    }
  });

  it('offline/ evaluates without network to the metadata in hosts/<name>.lab.nix, ssh.host the host name', async () => {
    const dir = join(await temporaryDir('lab-example-'), 'homelab');
    await cp(exampleDir, dir, { recursive: true });
    await gitAddAll(dir);
    const flake = join(dir, 'offline');
    expect(
      await nixEvalJson<string[]>([`${flake}#nixosConfigurations`, '--apply', 'builtins.attrNames']),
    ).toEqual(hostNames);
    const configs = await nixEvalJson<Record<string, { hostName: string; machine: Machine }>>([
      `${flake}#nixosConfigurations`,
      '--apply',
      'builtins.mapAttrs (_: h: { hostName = h.config.networking.hostName; machine = h.config.lab.machine; })',
    ]);
    for (const name of hostNames) {
      const file = await labFile(name);
      expect(configs[name]).toEqual({
        hostName: name,
        machine: { ...file, ssh: { host: name, ...file.ssh } },
      });
    }
  });

  it('makes an interesting sequence: 3+ stages, a dependency within a stage, every criticality', async () => {
    const machines = Object.fromEntries(
      await Promise.all(hostNames.map(async (n) => [n, await labFile(n)] as const)),
    );
    const stages = new Set(Object.values(machines).map((m) => m.rebootOrder));
    expect(stages.size).toBeGreaterThanOrEqual(3);
    const sameStageDependencies = Object.entries(machines).flatMap(([name, m]) =>
      (m.dependencies ?? [])
        .filter((dep) => machines[dep]?.rebootOrder === m.rebootOrder)
        .map((dep) => `${name} -> ${dep}`),
    );
    expect(sameStageDependencies).toEqual(['web -> db']);
    for (const [name, m] of Object.entries(machines)) {
      for (const dep of m.dependencies ?? []) {
        expect(machines[dep], `${name} depends on ${dep}`).toBeDefined();
        expect(machines[dep]?.rebootOrder).toBeLessThanOrEqual(m.rebootOrder);
      }
    }
    expect(
      new Set(Object.values(machines).map((m) => m.orchestration?.criticalityLevel ?? 'medium')),
    ).toEqual(new Set(['low', 'medium', 'high', 'critical']));
  });

  describe.skipIf(libPath === undefined)(
    libPath
      ? `the real flake, nixpkgs replaced by its lib with a stubbed nixosSystem (${LIB_ENV}=${libPath})`
      : `the real flake with a stubbed nixpkgs: skipped, set ${LIB_ENV} to a nixpkgs.lib or nixpkgs checkout to run`,
    () => {
      it('evaluates every host through lab.nixosModules.default: no failed assertion, metadata as in hosts/', async () => {
        const root = await temporaryDir('lab-example-real-');
        const repo = join(root, 'repo');
        for (const path of ['flake.nix', 'flake.lock', 'nix', 'examples/homelab']) {
          await cp(join(repoRoot, path), join(repo, path), { recursive: true });
        }
        await gitAddAll(repo);
        const nixpkgs = join(root, 'nixpkgs');
        await cp(join(import.meta.dirname, 'fake-nixpkgs'), nixpkgs, { recursive: true });
        const lib = libPath ?? '';
        const libDir = (await readdir(lib)).includes('lib') ? join(lib, 'lib') : lib;
        await cp(libDir, join(nixpkgs, 'lib'), { recursive: true });

        const hosts = await nixEvalJson<
          Record<
            string,
            { hostName: string; failed: string[]; machine: Json; metadata: { hostname: string } & Json }
          >
        >([
          `${join(repo, 'examples/homelab')}#nixosConfigurations`,
          '--override-input',
          'nixpkgs',
          `path:${nixpkgs}`,
          // lab's own nixpkgs input follows this one (`lab.inputs.nixpkgs.follows`), so this
          // one override serves both.
          '--no-write-lock-file',
          '--apply',
          `builtins.mapAttrs (_: c: {
            hostName = c.config.networking.hostName;
            failed = map (a: a.message) (builtins.filter (a: !a.assertion) c.config.assertions);
            machine = c.config.lab.machine // {
              healthChecks = map (h: builtins.removeAttrs h [ "_module" ]) c.config.lab.machine.healthChecks;
            };
            metadata = builtins.fromJSON c.config.environment.etc."lab-machine-metadata.json".text;
          })`,
        ]);
        expect(Object.keys(hosts).sort()).toEqual(hostNames);
        for (const name of hostNames) {
          const host = hosts[name];
          const expected = withDefaults(name, await labFile(name));
          expect(host?.hostName).toBe(name);
          expect(host?.failed).toEqual([]);
          // The module's power defaults: the example's hosts have no power control.
          expect(host?.machine).toEqual({
            ...(expected as object),
            power: {
              wakeOnLan: null,
              command: { on: null, off: null, cycle: null, status: null, environmentFile: null, timeout: 60 },
              recover: 'never',
            },
          });
          expect(host?.metadata).toEqual({ hostname: name, services: [], ...(expected as object) });
        }
      });
    },
  );
});
