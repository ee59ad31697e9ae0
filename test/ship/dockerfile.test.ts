import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { logSettings } from '../../src/cli/logger.js';
import {
  argDefaults,
  copyInstruction,
  dockerfileStages,
  dockerignore,
  execForm,
  filesUnder,
  type Instruction,
  parseDockerfile,
  parseEnvExample,
  ROOT,
  readCompose,
  readText,
  serviceEnvironment,
  serviceVolumes,
  substitute,
} from './ship-files.js';

const instructions = parseDockerfile(readText('Dockerfile'));
const stages = dockerfileStages(instructions);
const runtime = stages.at(-1) as (typeof stages)[number];
const build = stages[0] as (typeof stages)[number];
const runtimeArgs = new Map([
  ...argDefaults(
    instructions.slice(
      0,
      instructions.findIndex((i) => i.keyword === 'FROM'),
    ),
  ),
  ...argDefaults(runtime.instructions),
]);
const ignored = dockerignore(readText('.dockerignore'));
const packageJson = JSON.parse(readText('package.json')) as { bin: Record<string, string> };

const of = (stage: { instructions: Instruction[] }, keyword: string) =>
  stage.instructions.filter((instruction) => instruction.keyword === keyword);
const runText = (stage: { instructions: Instruction[] }) =>
  of(stage, 'RUN')
    .map((instruction) => substitute(instruction.args, runtimeArgs))
    .join('\n');
/** KEY=value pairs of ENV and LABEL instructions (the KEY=value form this Dockerfile uses). */
function pairs(stage: { instructions: Instruction[] }, keyword: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const instruction of of(stage, keyword)) {
    for (const match of instruction.args.matchAll(/([\w.-]+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
      found.set(match[1] as string, (match[2] as string).replace(/^"(.*)"$/, '$1'));
    }
  }
  return found;
}

describe('Dockerfile', () => {
  it('builds in one stage and runs from another, both on Node 22 (LTS; 20 is past its end of life) and Debian bookworm', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build.name).toBe('build');
    for (const stage of stages) expect(stage.base).toBe('node:22-bookworm-slim');
    expect(runtime.name).not.toBe(build.name);
  });

  it('builds with the lock file, compiles, and keeps only production dependencies', () => {
    const commands = runText(build);
    expect(commands).toMatch(/\bnpm ci\b/);
    expect(commands).toMatch(/\bnpm run build\b/);
    expect(commands).toMatch(/\bnpm (prune|ci) [^\n]*--omit=dev\b/);
    const runtimeCopies = of(runtime, 'COPY').map(copyInstruction);
    expect(runtimeCopies.filter((copy) => copy.from === undefined).map((copy) => copy.sources)).toEqual([
      ['docker/nix.conf'],
    ]);
    for (const copy of runtimeCopies.filter((copy) => copy.from !== undefined)) {
      expect(stages.map((stage) => stage.name)).toContain(copy.from);
    }
  });

  it('installs nix, the OpenSSH client, git and CA certificates, without recommends, cleaning the lists', () => {
    const install = of(runtime, 'RUN').find((instruction) => /apt-get install/.test(instruction.args));
    expect(install).toBeDefined();
    const words = install?.args.split(/\s+/) ?? [];
    for (const name of ['nix-bin', 'openssh-client', 'git', 'ca-certificates']) expect(words).toContain(name);
    expect(words).toContain('--no-install-recommends');
    expect(install?.args).toMatch(/apt-get update/);
    expect(install?.args).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
  });

  it('runs as a fixed non-root user, the uid the operator instructions give the secrets to', () => {
    const users = of(runtime, 'USER').map((instruction) => substitute(instruction.args, runtimeArgs));
    const user = users.at(-1) as string;
    expect(user).toMatch(/^\d+:\d+$/);
    const [uid, gid] = user.split(':');
    expect(Number(uid)).toBeGreaterThanOrEqual(1000);
    expect(runText(runtime)).toContain(`useradd --uid "${uid}" --gid lab`);
    expect(runText(runtime)).toContain(`groupadd --gid "${gid}" lab`);
    expect(readText('.env.example')).toContain(`chown ${uid}:${gid} secrets/*`);
    expect(readText('docker-compose.yml')).toContain(`chown ${uid}:${gid} secrets/*`);
  });

  it('gives the lab user the directories compose mounts named volumes on (Docker copies their ownership)', () => {
    const commands = runText(runtime);
    const created = [...commands.matchAll(/mkdir -p ((?:\/\S+\s*)+)/g)].flatMap((match) =>
      (match[1] as string).trim().split(/\s+/),
    );
    const owned = [...commands.matchAll(/chown -R lab:lab ((?:\/\S+\s*)+)/g)].flatMap((match) =>
      (match[1] as string).trim().split(/\s+/),
    );
    const lab = readCompose().services.lab as Record<string, unknown>;
    const targets = serviceVolumes(lab)
      .filter((volume) => volume.type === 'volume')
      .map((volume) => volume.target);
    expect(targets.length).toBeGreaterThanOrEqual(2);
    const within = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);
    for (const target of targets) {
      expect(
        created.some((path) => within(path, target)),
        `${target} created`,
      ).toBe(true);
      expect(
        owned.some((path) => within(target, path)),
        `${target} owned by lab`,
      ).toBe(true);
    }
    // Single-user nix: the store and its database belong to lab.
    expect(created).toEqual(expect.arrayContaining(['/nix/store', '/nix/var/nix']));
    // The cache lab is told to use lies on one of those volumes.
    const cacheDir = pairs(runtime, 'ENV').get('LAB_CACHE_DIR') as string;
    expect(targets.some((target) => within(cacheDir, target))).toBe(true);
    expect(serviceEnvironment(lab).LAB_CACHE_DIR).toBe(cacheDir);
  });

  it('configures nix for flakes without sandbox or daemon, and lets git read a flake of another owner', () => {
    const nixConf = of(runtime, 'COPY')
      .map(copyInstruction)
      .find((copy) => copy.destination === '/etc/nix/nix.conf');
    expect(nixConf?.sources).toEqual(['docker/nix.conf']);
    const settings = new Map(
      readText('docker/nix.conf')
        .split('\n')
        .filter((line) => line.trim() !== '' && !line.startsWith('#'))
        .map((line) => line.split('=').map((part) => part.trim()) as [string, string]),
    );
    expect(settings.get('experimental-features')?.split(/\s+/)).toEqual(
      expect.arrayContaining(['nix-command', 'flakes']),
    );
    expect(settings.get('sandbox')).toBe('false');
    expect(settings.get('build-users-group')).toBe('');
    expect(runText(runtime)).toMatch(/git config --system safe\.directory '\*'/);
  });

  it('runs `lab serve` by default under an init that forwards signals, and `lab <anything>` otherwise', () => {
    const entrypoint = execForm(of(runtime, 'ENTRYPOINT').at(-1)?.args ?? '[]');
    const command = execForm(of(runtime, 'CMD').at(-1)?.args ?? '[]');
    expect([...entrypoint, ...command].slice(-2)).toEqual(['lab', 'serve']);
    expect(command).toEqual(['serve']);
    // PID 1 is an init (tini here, or compose's init: true), so SIGTERM reaches lab.
    const lab = readCompose().services.lab as Record<string, unknown>;
    const tini = entrypoint[0] === '/usr/bin/tini' && runText(runtime).includes(' tini');
    expect(tini || lab.init === true).toBe(true);
    if (tini) {
      expect(entrypoint.slice(1, 3)).toEqual(['--', 'lab']);
      expect(lab.init).toBeUndefined();
    }
    expect(of(runtime, 'STOPSIGNAL').at(-1)?.args).toBe('SIGTERM');
  });

  it('puts `lab` on PATH as the package bin, with the package.json the version is read from', () => {
    const link = /ln -s (\S+) \/usr\/local\/bin\/lab\b/.exec(runText(runtime));
    expect(link?.[1]).toBe(`/app/${packageJson.bin.lab}`);
    const workdir = of(runtime, 'WORKDIR').at(-1)?.args;
    expect(workdir).toBe('/app');
    const copied = of(runtime, 'COPY')
      .map(copyInstruction)
      .filter((copy) => copy.from === 'build')
      .map((copy) => join(workdir as string, copy.destination));
    expect(copied).toEqual(expect.arrayContaining(['/app/package.json', '/app/node_modules', '/app/dist']));
  });

  it('sets production defaults a container wants, which lab accepts', () => {
    const env = pairs(runtime, 'ENV');
    expect(env.get('NODE_ENV')).toBe('production');
    expect(env.get('LOG_FORMAT')).toBe('json');
    expect(env.get('HOME')).toBe('/home/lab');
    expect(
      logSettings({ LOG_FORMAT: env.get('LOG_FORMAT') }, { isTTY: true } as NodeJS.WriteStream).format,
    ).toBe('json');
    // The image's defaults are documented where the operator looks.
    const documented = new Map(parseEnvExample(readText('.env.example')).map((entry) => [entry.name, entry]));
    expect(documented.get('LOG_FORMAT')?.value).toBe(env.get('LOG_FORMAT'));
  });

  it('is labelled, and bakes in no secret', () => {
    const labels = pairs(runtime, 'LABEL');
    for (const key of ['title', 'description', 'licenses']) {
      expect(labels.get(`org.opencontainers.image.${key}`), key).toBeTruthy();
    }
    expect(labels.get('org.opencontainers.image.licenses')).toBe(
      (JSON.parse(readText('package.json')) as { license: string }).license,
    );
    for (const stage of stages) {
      for (const keyword of ['ENV', 'ARG']) {
        for (const name of pairs(stage, keyword).keys())
          expect(name).not.toMatch(/TOKEN|PASSPHRASE|SECRET|PASSWORD/);
      }
    }
    const text = readText('Dockerfile');
    expect(text).not.toMatch(/^\s*(ENV|ARG)\s+(DISCORD_TOKEN|LAB_SSH_KEY)/m);
  });
});

describe('the build context (.dockerignore)', () => {
  const contextCopies = stages.flatMap((stage) =>
    of(stage, 'COPY')
      .map(copyInstruction)
      .filter((copy) => copy.from === undefined),
  );

  it('holds every file the Dockerfile copies from it', () => {
    expect(contextCopies.length).toBeGreaterThanOrEqual(4);
    for (const copy of contextCopies) {
      for (const source of copy.sources) {
        expect(existsSync(join(ROOT, source)), source).toBe(true);
        expect(ignored(source), `${source} is excluded by .dockerignore`).toBe(false);
        if (statSync(join(ROOT, source)).isDirectory()) {
          const files = filesUnder(source);
          expect(files.length, source).toBeGreaterThan(0);
          expect(
            files.filter((file) => ignored(file)),
            `${source}: files excluded`,
          ).toEqual([]);
        }
      }
    }
  });

  it('holds everything `npm run build` compiles: the sources and both tsconfig files', () => {
    const copied = new Set(contextCopies.flatMap((copy) => copy.sources));
    for (const needed of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'src',
    ]) {
      expect(copied.has(needed), needed).toBe(true);
    }
    const buildConfig = JSON.parse(readText('tsconfig.build.json')) as {
      extends?: string;
      include: string[];
    };
    expect(buildConfig.extends).toBe('./tsconfig.json');
    expect(buildConfig.include).toEqual(['src']);
  });

  it('keeps out secrets, the operator configuration, a local flake and build output', () => {
    for (const path of [
      '.env',
      'secrets/discord_token',
      'secrets/lab_ssh_key',
      'homelab/flake.nix',
      'node_modules/zod/package.json',
      'dist/cli/main.js',
      '.git/HEAD',
      'test/ship/compose.test.ts',
    ]) {
      expect(ignored(path), path).toBe(true);
    }
  });

  it('is read with Docker semantics: last match wins, parents match, ** crosses directories', () => {
    const match = dockerignore(
      ['# comment', '*.log', '!keep.log', 'build/', '**/*.tmp', 'docs/*/draft', '/abs'].join('\n'),
    );
    expect(match('a.log')).toBe(true);
    expect(match('keep.log')).toBe(false);
    expect(match('sub/a.log')).toBe(false); // `*` does not cross directories, unlike .gitignore
    expect(match('build/out/x.js')).toBe(true);
    expect(match('deep/er/x.tmp')).toBe(true);
    expect(match('x.tmp')).toBe(true);
    expect(match('docs/a/draft')).toBe(true);
    expect(match('docs/a/b/draft')).toBe(false);
    expect(match('abs')).toBe(true);
    expect(match('src/main.ts')).toBe(false);
    const allowList = dockerignore('*\n!src\n');
    expect(allowList('src/a/b.ts')).toBe(false);
    expect(allowList('srcx/b.ts')).toBe(true);
  });

  it('parses the Dockerfile as BuildKit does: continuations joined, comments inside them dropped', () => {
    const parsed = parseDockerfile(
      [
        '# syntax=docker/dockerfile:1',
        'ARG BASE=debian:12',
        'FROM $BASE AS one',
        'RUN a \\',
        '  # a comment inside',
        '  && b',
        'COPY --from=one --chown=1:1 x y /dest/',
        'CMD ["serve"]',
      ].join('\n'),
    );
    expect(parsed.map((instruction) => instruction.keyword)).toEqual(['ARG', 'FROM', 'RUN', 'COPY', 'CMD']);
    expect(parsed[2]?.args).toBe('a && b');
    expect(copyInstruction(parsed[3] as Instruction)).toEqual({
      from: 'one',
      sources: ['x', 'y'],
      destination: '/dest/',
    });
    expect(dockerfileStages(parsed)[0]).toMatchObject({ name: 'one', base: 'debian:12' });
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).not.toMatch(/\\\n\s*\n/);
  });
});
