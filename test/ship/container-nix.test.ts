/**
 * The image's runtime set-up, rehearsed without Docker: in a private mount namespace, /nix is a
 * fresh empty file system owned by the image's lab user (as a new named volume would be), the
 * image's nix.conf and git configuration are the ones in use, the flake is a read-only git
 * checkout of another owner (as the compose bind mount is), lab is this checkout mounted read-only
 * where the lab user can read it (as the image's /app, wherever the checkout lives: /root is not
 * readable by that user), and lab runs as the lab uid with no nix-daemon. Debian's nix-bin, the
 * package the image installs, does the work.
 */
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argDefaults, dockerfileStages, parseDockerfile, ROOT, readText } from './ship-files.js';

const instructions = parseDockerfile(readText('Dockerfile'));
const runtime = dockerfileStages(instructions).at(-1);
const args = argDefaults(runtime?.instructions ?? []);
const UID = Number(args.get('LAB_UID'));
const GID = Number(args.get('LAB_GID'));
/** The Dockerfile's own git configuration command, run here against a file of its own. */
const gitConfigCommand = /git config --system safe\.directory '\*'/.exec(readText('Dockerfile'))?.[0];

function available(command: string): boolean {
  return ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].some((dir) => existsSync(join(dir, command)));
}
const canRehearse =
  process.getuid?.() === 0 &&
  existsSync('/nix') &&
  ['unshare', 'setpriv', 'nix', 'git', 'ssh-keygen'].every(available);

/**
 * Runs in a private mount namespace: /nix replaced by an empty tmpfs that the lab user owns,
 * /etc/passwd and /etc/group with the lab user added, the flake made read-only, this checkout
 * read-only at $SIM/app; then "$@" as the lab user in $SIM/app (the image's WORKDIR /app) or $WORKDIR, with
 * the image's HOME, nix.conf and git system configuration.
 */
const REHEARSAL = `
set -eu
mount -t tmpfs -o mode=0755 tmpfs /nix
mkdir -p /nix/store /nix/var/nix
chown -R "$LAB_UID:$LAB_GID" /nix
mount --bind "$SIM/etc/passwd" /etc/passwd
mount --bind "$SIM/etc/group" /etc/group
mount --bind "$SIM/flake" "$SIM/flake"
mount -o remount,bind,ro "$SIM/flake"
mount --bind "$APP" "$SIM/app"
mount -o remount,bind,ro "$SIM/app"
cd "\${WORKDIR:-$SIM/app}"
set +e
setpriv --reuid "$LAB_UID" --regid "$LAB_GID" --clear-groups \\
  env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$SIM/home" LAB_CACHE_DIR="$SIM/home/.cache/lab" \\
  NIX_CONF_DIR="$SIM/nixconf" GIT_CONFIG_SYSTEM="$GIT_CONFIG_FILE" "$@"
echo "@@rc=$?"
echo "@@owners=$(stat -c %u /nix/store /nix/var/nix 2>/dev/null | sort -u | tr '\\n' ' ')"
`;

describe.skipIf(!canRehearse)("the image's nix and ssh set-up, rehearsed without Docker (root only)", () => {
  let sim: string;
  let gitConfig: string;

  async function asLab(command: string[], options: { gitConfig?: string; workdir?: string } = {}) {
    const result = await execa(
      'unshare',
      ['--mount', '--propagation', 'private', 'bash', '-c', REHEARSAL, 'rehearsal', ...command],
      {
        env: {
          SIM: sim,
          APP: ROOT,
          LAB_UID: String(UID),
          LAB_GID: String(GID),
          GIT_CONFIG_FILE: options.gitConfig ?? gitConfig,
          ...(options.workdir ? { WORKDIR: options.workdir } : {}),
        },
        reject: false,
      },
    );
    const rc = Number(/@@rc=(\d+)/.exec(result.stdout)?.[1] ?? Number.NaN);
    const owners = /@@owners=(.*)/.exec(result.stdout)?.[1]?.trim() ?? '';
    const stdout = result.stdout.replace(/@@rc=.*\n?|@@owners=.*\n?/g, '');
    return { rc, owners, stdout, stderr: result.stderr, setupFailed: result.exitCode !== 0 };
  }

  beforeAll(async () => {
    expect(UID).toBeGreaterThan(0);
    expect(gitConfigCommand).toBeDefined();
    sim = mkdtempSync(join(tmpdir(), 'lab-ship-rehearsal-'));
    chmodSync(sim, 0o755);
    for (const dir of ['app', 'etc', 'nixconf', 'home/.cache/lab'])
      mkdirSync(join(sim, dir), { recursive: true });
    chownSync(join(sim, 'home'), UID, GID);
    chownSync(join(sim, 'home/.cache'), UID, GID);
    chownSync(join(sim, 'home/.cache/lab'), UID, GID);
    writeFileSync(
      join(sim, 'etc/passwd'),
      `${readFileSync('/etc/passwd', 'utf8')}lab:x:${UID}:${GID}::/home/lab:/bin/bash\n`,
    );
    writeFileSync(join(sim, 'etc/group'), `${readFileSync('/etc/group', 'utf8')}lab:x:${GID}:\n`);
    copyFileSync(join(ROOT, 'docker/nix.conf'), join(sim, 'nixconf/nix.conf'));
    gitConfig = join(sim, 'gitconfig');
    await execa('sh', ['-c', gitConfigCommand as string], { env: { GIT_CONFIG_SYSTEM: gitConfig } });
    chmodSync(gitConfig, 0o644);
    // The homelab flake: a git checkout owned by root, as one mounted from the host would be.
    const flake = join(sim, 'flake');
    cpSync(join(ROOT, 'examples/homelab'), flake, { recursive: true });
    const git = (...gitArgs: string[]) =>
      execa('git', ['-c', 'user.name=lab', '-c', 'user.email=lab@example.invalid', ...gitArgs], {
        cwd: flake,
      });
    await git('init', '-q');
    await git('add', '-A');
    await git('commit', '-q', '--no-gpg-sign', '-m', 'homelab');
    const key = join(sim, 'key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'lab', '-f', key]);
  });

  afterAll(() => {
    if (sim) rmSync(sim, { recursive: true, force: true });
  });

  it('reads a read-only flake of another owner as the lab user, into a store that user owns', async () => {
    const result = await asLab([
      'node',
      join(sim, 'app/dist/cli/main.js'),
      'sequence',
      '--json',
      '--flake',
      join(sim, 'flake/offline'),
    ]);
    expect(result.setupFailed, result.stderr).toBe(false);
    expect(result.rc, result.stderr).toBe(0);
    const plan = JSON.parse(result.stdout) as { steps: { machines: { name: string }[] }[] };
    expect(plan.steps.flatMap((step) => step.machines.map((machine) => machine.name)).sort()).toEqual([
      'db',
      'nas',
      'router',
      'sleeper-service',
      'web',
    ]);
    expect(result.owners).toBe(String(UID));
  });

  it("needs the image's git safe.directory for that: without it git refuses the flake", async () => {
    const result = await asLab(
      ['node', join(sim, 'app/dist/cli/main.js'), 'sequence', '--flake', join(sim, 'flake/offline')],
      { gitConfig: '/dev/null' },
    );
    expect(result.setupFailed, result.stderr).toBe(false);
    expect(result.rc).not.toBe(0);
    expect(result.stderr).toMatch(/git/);
  });

  it('says so when lab runs in a directory the lab user cannot enter (not that nix is missing)', async () => {
    const closed = join(sim, 'closed');
    mkdirSync(closed, { mode: 0o700 });
    const result = await asLab(
      ['node', join(sim, 'app/dist/cli/main.js'), 'sequence', '--flake', join(sim, 'flake/offline')],
      { workdir: closed },
    );
    expect(result.setupFailed, result.stderr).toBe(false);
    expect(result.rc).toBe(1);
    expect(result.stderr.trim()).toBe(
      `lab: cannot run nix: the current directory ${closed} is not accessible to this user (uid ${UID}): run lab from a directory it can enter.`,
    );
  });

  it('builds a derivation as the lab user: single-user nix, no daemon, no sandbox, no build users', async () => {
    const expression =
      'derivation { name = "lab-ship-rehearsal"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo built > $out" ]; }';
    const result = await asLab([
      'nix',
      'build',
      '--no-link',
      '--json',
      '--option',
      'substituters',
      '',
      '--impure',
      '--expr',
      expression,
    ]);
    expect(result.setupFailed, result.stderr).toBe(false);
    expect(result.rc, result.stderr).toBe(0);
    const [built] = JSON.parse(result.stdout) as { outputs: { out: string } }[];
    expect(built?.outputs.out).toMatch(/^\/nix\/store\/[a-z0-9]{32}-lab-ship-rehearsal$/);
    expect(result.owners).toBe(String(UID));
  });

  it('accepts the SSH key modes the operator instructions give, and refuses a key its owner shares', async () => {
    const cases: [owner: [number, number], mode: number, usable: boolean][] = [
      [[UID, GID], 0o400, true], // chown 10001:10001, chmod 0400
      [[0, GID], 0o440, true], // chown root:10001, chmod 0440
      [[UID, GID], 0o440, false], // ssh: "UNPROTECTED PRIVATE KEY FILE"
      [[0, 0], 0o400, false], // not readable by lab at all
    ];
    for (const [[owner, group], mode, usable] of cases) {
      const copy = join(sim, `key-${owner}-${mode.toString(8)}`);
      copyFileSync(join(sim, 'key'), copy);
      chownSync(copy, owner, group);
      chmodSync(copy, mode);
      // ssh-keygen -y loads the key the way ssh (and so `nix copy`) does, permission check included.
      const result = await asLab(['ssh-keygen', '-y', '-f', copy]);
      expect(result.setupFailed, result.stderr).toBe(false);
      expect(result.rc === 0, `${owner}:${group} ${mode.toString(8)}: ${result.stderr}`).toBe(usable);
    }
  });
});
