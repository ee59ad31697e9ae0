import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = resolve(import.meta.dirname, '../..');
const systems = ['aarch64-linux', 'x86_64-linux'];
const flakes = ['--extra-experimental-features', 'nix-command flakes'];

const LIB_ENV = 'LAB_NIXPKGS_LIB';
const libPath = process.env[LIB_ENV] ? resolve(process.env[LIB_ENV]) : undefined;

/**
 * No substituters, and every download through a proxy that refuses connections: whether or not
 * the machine has network, nix cannot fetch anything, so a command that succeeds fetched nothing.
 */
const noNetwork = {
  NIX_CONFIG: 'substituters =\ndownload-attempts = 1',
  http_proxy: 'http://127.0.0.1:9',
  https_proxy: 'http://127.0.0.1:9',
  all_proxy: 'http://127.0.0.1:9',
};

/** A nixpkgs revision nobody can fetch: a copy of the flake locked to it shows what needs nixpkgs. */
const unfetchable = {
  rev: '0'.repeat(40),
  narHash: `sha256-${'A'.repeat(43)}=`,
};

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
 * The repository's flake in a temporary directory (inside a checkout nix sees only tracked
 * files): flake.nix, flake.lock and nix/, plus what the package's source set reads when `full`.
 */
async function copyRootFlake(
  options: { full?: boolean; lock?: 'real' | 'unfetchable' } = {},
): Promise<string> {
  const dir = await temporaryDir('lab-root-flake-');
  const paths = ['flake.nix', 'flake.lock', 'nix'];
  if (options.full)
    paths.push('package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src');
  for (const path of paths) await cp(join(repoRoot, path), join(dir, path), { recursive: true });
  if (options.lock === 'unfetchable') {
    const lock = JSON.parse(await readFile(join(dir, 'flake.lock'), 'utf8'));
    Object.assign(lock.nodes.nixpkgs.locked, unfetchable);
    await writeFile(join(dir, 'flake.lock'), `${JSON.stringify(lock, null, 2)}\n`);
  }
  return dir;
}

function nix(args: string[], env: Record<string, string> = noNetwork) {
  return execa('nix', [...flakes, ...args], { env, reject: false });
}

async function nixEvalJson<T>(args: string[]): Promise<T> {
  const result = await nix(['eval', '--json', ...args]);
  expect(result.exitCode, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

describe('flake.nix (repository root)', () => {
  it('pins nixpkgs (nixos-26.05) in flake.lock, the lock nix computes for flake.nix', async () => {
    const flake = await copyRootFlake();
    const before = await readFile(join(flake, 'flake.lock'), 'utf8');
    const metadata = await nix(['flake', 'metadata', '--json', flake]);
    expect(metadata.exitCode, metadata.stderr).toBe(0);
    // A lock that does not match flake.nix's inputs would be updated (and rewritten here).
    expect(metadata.stderr).not.toMatch(/Updated input|Added input/);
    expect(await readFile(join(flake, 'flake.lock'), 'utf8')).toBe(before);

    const locks = JSON.parse(metadata.stdout).locks;
    expect(locks.version).toBe(7);
    expect(locks.nodes.root.inputs).toEqual({ nixpkgs: 'nixpkgs' });
    const { locked, original } = locks.nodes.nixpkgs;
    expect(original).toEqual({ type: 'github', owner: 'NixOS', repo: 'nixpkgs', ref: 'nixos-26.05' });
    expect(locked).toEqual({
      type: 'github',
      owner: 'NixOS',
      repo: 'nixpkgs',
      rev: expect.stringMatching(/^[0-9a-f]{40}$/),
      narHash: expect.stringMatching(/^sha256-[A-Za-z0-9+/]{43}=$/),
      lastModified: expect.any(Number),
    });
  });

  it('exports nixosModules.lab-machine and .default (importing the module) and .lab-orchestrator, without fetching nixpkgs', async () => {
    // Locked to a revision that cannot be fetched: only what never touches nixpkgs evaluates.
    const flake = await copyRootFlake({ lock: 'unfetchable' });
    const modules = await nixEvalJson<Record<string, unknown>>([
      `${flake}#nixosModules`,
      '--apply',
      `builtins.mapAttrs (_: m:
        if builtins.isFunction m then { args = builtins.functionArgs m; }
        else { imports = map (p: baseNameOf (toString p)) m.imports; })`,
    ]);
    expect(modules).toEqual({
      default: { imports: ['lab-machine.nix'] },
      'lab-machine': { imports: ['lab-machine.nix'] },
      // A module function: it sets the package default from pkgs' system.
      'lab-orchestrator': { args: { lib: false, pkgs: false } },
    });
  });

  it('has packages.{default,lab}, apps.default, devShells.default and checks for both systems, listed without fetching nixpkgs', async () => {
    const flake = await copyRootFlake({ lock: 'unfetchable' });
    const names = async (output: string) =>
      nixEvalJson<Record<string, string[]>>([
        `${flake}#${output}`,
        '--apply',
        'builtins.mapAttrs (_: builtins.attrNames)',
      ]);
    const perSystem = (attrs: string[]) => Object.fromEntries(systems.map((system) => [system, attrs]));
    expect(await names('packages')).toEqual(perSystem(['default', 'lab']));
    expect(await names('apps')).toEqual(perSystem(['default']));
    expect(await names('devShells')).toEqual(perSystem(['default']));
    expect(await names('checks')).toEqual(perSystem(['nixos-modules', 'package', 'vm-test']));

    // The same copy does need nixpkgs for the package itself: the look-ups above really fetched
    // nothing (they would have failed).
    const pkg = await nix(['eval', '--raw', `${flake}#packages.x86_64-linux.default.name`]);
    expect(pkg.exitCode).not.toBe(0);
    expect(pkg.stderr).toContain(unfetchable.rev);
  });

  it("a homelab flake importing lab's modules evaluates without lab's nixpkgs, with and without follows", async () => {
    const root = await temporaryDir('lab-homelab-flake-');
    const lab = await copyRootFlake({ lock: 'unfetchable' });
    // The homelab's own "nixpkgs": any flake will do for `follows`.
    const nixpkgs = join(root, 'nixpkgs');
    await mkdir(nixpkgs);
    await writeFile(join(nixpkgs, 'flake.nix'), '{ outputs = { self }: { lib.answer = 42; }; }\n');
    const homelab = (follows: boolean) => `{
      inputs.nixpkgs.url = "path:${nixpkgs}";
      inputs.lab.url = "path:${lab}";
      ${follows ? 'inputs.lab.inputs.nixpkgs.follows = "nixpkgs";' : ''}
      outputs = { self, nixpkgs, lab }: {
        modules = {
          machine = map (p: baseNameOf (toString p)) lab.nixosModules.lab-machine.imports;
          default = map (p: baseNameOf (toString p)) lab.nixosModules.default.imports;
          orchestrator = builtins.isFunction lab.nixosModules.lab-orchestrator;
          answer = nixpkgs.lib.answer;
        };
      };
    }\n`;
    for (const follows of [false, true]) {
      const dir = join(root, follows ? 'homelab-follows' : 'homelab');
      await mkdir(dir);
      await writeFile(join(dir, 'flake.nix'), homelab(follows));
      expect(await nixEvalJson<unknown>([`${dir}#modules`])).toEqual({
        machine: ['lab-machine.nix'],
        default: ['lab-machine.nix'],
        orchestrator: true,
        answer: 42,
      });
      // With follows, lab uses the homelab's nixpkgs; without, its own pin (locked, never fetched).
      const lock = JSON.parse(await readFile(join(dir, 'flake.lock'), 'utf8'));
      const labNixpkgs = lock.nodes.lab.inputs.nixpkgs;
      if (follows) expect(labNixpkgs).toEqual(['nixpkgs']);
      else expect(lock.nodes[labNixpkgs].locked.rev).toBe(unfetchable.rev);
    }
  });
});

describe.skipIf(libPath === undefined)(
  libPath
    ? `flake.nix with nixpkgs replaced by its lib and stand-in packages (${LIB_ENV}=${libPath})`
    : `flake.nix with a stubbed nixpkgs: skipped, set ${LIB_ENV} to a nixpkgs.lib or nixpkgs checkout to run`,
  () => {
    /** test/module/fake-nixpkgs with a copy of the nixpkgs lib, as a flake to override nixpkgs with. */
    async function fakeNixpkgs(): Promise<string> {
      const dir = join(await temporaryDir('lab-fake-nixpkgs-'), 'nixpkgs');
      await cp(join(import.meta.dirname, 'fake-nixpkgs'), dir, { recursive: true });
      const lib = libPath ?? '';
      const libDir = (await readdir(lib)).includes('lib') ? join(lib, 'lib') : lib;
      await cp(libDir, join(dir, 'lib'), { recursive: true });
      return dir;
    }

    const overridden = async () => [
      '--override-input',
      'nixpkgs',
      `path:${await fakeNixpkgs()}`,
      '--no-write-lock-file',
    ];

    it('passes `nix flake check --no-build`: outputs well-formed, the NixOS check system without failed assertions', async () => {
      const flake = await copyRootFlake({ full: true });
      const check = await nix(['flake', 'check', '--no-build', ...(await overridden()), flake]);
      expect(check.exitCode, check.stderr).toBe(0);

      // The check system is really evaluated: a broken host configuration fails the check.
      const host = join(flake, 'nix/tests/orchestrator-host.nix');
      await writeFile(
        host,
        (await readFile(host, 'utf8')).replace(/guildIds = \[[^\]]*\]/, 'guildIds = [ ]'),
      );
      const broken = await nix(['flake', 'check', '--no-build', ...(await overridden()), flake]);
      expect(broken.exitCode).not.toBe(0);
      expect(broken.stderr).toContain('services.lab-orchestrator.discord.enable needs discord.guildIds');
    });

    it('builds lab with buildNpmPackage from package-lock.json (importNpmLock, every package with its URL and hash), no install scripts, lab wrapped with nix, git, ssh', async () => {
      const flake = await copyRootFlake({ full: true });
      const lockPackages = Object.keys(
        JSON.parse(await readFile(join(repoRoot, 'package-lock.json'), 'utf8')).packages,
      ).filter((key) => key !== '');
      const pkg = await nixEvalJson<{
        name: string;
        nodejs: string;
        npmConfigHookIsImportNpmLocks: boolean;
        npmRebuildFlags: string[];
        postInstall: string;
        mainProgram: string;
        source: string[];
        lock: Record<string, { resolved: string; integrity: string }>;
        packageName: string;
      }>([
        ...(await overridden()),
        `${flake}#packages.x86_64-linux`,
        '--apply',
        `ps: let p = ps.default; a = p.fakeArgs; in {
          inherit (p) name;
          nodejs = a.nodejs.name;
          npmConfigHookIsImportNpmLocks = a.npmConfigHook.name == "npm-config-hook";
          inherit (a) npmRebuildFlags postInstall;
          mainProgram = a.meta.mainProgram;
          source = builtins.attrNames (builtins.readDir a.src);
          lock = builtins.mapAttrs (_: e: { inherit (e) resolved integrity; })
            (removeAttrs a.npmDeps.fakeArgs.packageLock.packages [ "" ]);
          packageName = a.npmDeps.fakeArgs.package.name;
        }`,
      ]);
      expect(pkg.name).toBe('lab-0.1.0');
      expect(pkg.nodejs).toBe('nodejs-22');
      expect(pkg.npmConfigHookIsImportNpmLocks).toBe(true);
      expect(pkg.npmRebuildFlags).toEqual(['--ignore-scripts']);
      expect(pkg.mainProgram).toBe('lab');
      expect(pkg.packageName).toBe('lab');
      expect(pkg.postInstall).toMatch(
        /wrapProgram \$out\/bin\/lab --suffix PATH : \/nix\/store\/[a-z0-9]{32}-nix\/bin:\/nix\/store\/[a-z0-9]{32}-git\/bin:\/nix\/store\/[a-z0-9]{32}-openssh\/bin/,
      );
      // Only what the build reads: a test or a README change does not rebuild lab.
      expect(pkg.source.sort()).toEqual([
        'nix',
        'package-lock.json',
        'package.json',
        'src',
        'tsconfig.build.json',
        'tsconfig.json',
      ]);
      expect(Object.keys(pkg.lock).sort()).toEqual(lockPackages.sort());
      for (const [key, entry] of Object.entries(pkg.lock)) {
        expect(entry.resolved, key).toMatch(
          /^https:\/\/registry\.npmjs\.org\/(@[^/]+\/)?[^/]+\/-\/[^/]+\.tgz$/,
        );
        expect(entry.integrity, key).toMatch(/^sha512-/);
      }
      expect(pkg.lock['node_modules/@discordjs/rest/node_modules/@discordjs/collection']?.resolved).toMatch(
        /^https:\/\/registry\.npmjs\.org\/@discordjs\/collection\/-\/collection-\d+\.\d+\.\d+\.tgz$/,
      );
    });

    it("apps.default runs the package's lab; lab-orchestrator from the flake defaults to the flake's package; the dev shell has what npm test needs", async () => {
      const flake = await copyRootFlake({ full: true });
      const args = await overridden();
      const system = 'x86_64-linux';
      const lab = await nixEvalJson<string>([...args, `${flake}#packages.${system}.default.outPath`]);
      expect(lab).toMatch(/^\/nix\/store\/[a-z0-9]{32}-lab-0\.1\.0$/);
      expect(await nixEvalJson<unknown>([...args, `${flake}#apps.${system}.default`])).toEqual({
        type: 'app',
        program: `${lab}/bin/lab`,
        meta: { description: expect.any(String) },
      });
      // The check system imports the flake's lab-orchestrator module without setting `package`.
      const unit = await nixEvalJson<{ ExecStart: string }>([
        ...args,
        `${flake}#checks.${system}.nixos-modules.config.systemd.services.lab-orchestrator.serviceConfig`,
      ]);
      expect(unit.ExecStart).toBe(`${lab}/bin/lab serve`);
      expect(
        await nixEvalJson<string[]>([
          ...args,
          `${flake}#devShells.${system}.default.fakeArgs.packages`,
          '--apply',
          'map (p: p.name)',
        ]),
      ).toEqual(['nodejs-22', 'nix', 'redis', 'openssh', 'git', 'iproute2', 'util-linux']);
    });
  },
);
