/**
 * nix configured with a build-users-group that does not exist, as Debian's nix-bin is for root
 * when nothing created the group 'nixbld': real nix, real lab. nix only uses build users when run
 * as root, so these run as root only.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { buildSystems } from '../../src/domain/deploy/build-systems.js';
import { NixBuildUsersGroupError } from '../../src/errors.js';
import { copyFixture, repoRoot, temporaryDir, testNix } from '../support/flake-fixtures.js';

const NO_SUCH_GROUP = 'lab-no-such-group';
const NIX_LINE = "specified in 'build-users-group' does not exist";
const cli = join(repoRoot, 'dist/cli/main.js');

describe.skipIf(process.getuid?.() !== 0)('nix whose build-users-group does not exist (root only)', () => {
  it("a build fails with the explanation, not nix's line", async () => {
    const flake = await copyFixture('systems');
    // `broken` never builds, so nix always has to start its build: it never is in the store.
    const nix = { ...testNix, options: { ...testNix.options, 'build-users-group': NO_SUCH_GROUP } };
    const error = await buildSystems(nix, flake, ['broken']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NixBuildUsersGroupError);
    expect((error as NixBuildUsersGroupError).group).toBe(NO_SUCH_GROUP);
    expect((error as Error).message).toContain(`names the group '${NO_SUCH_GROUP}'`);
    expect((error as Error).message).toContain("put the line 'build-users-group =' in /etc/nix/nix.conf");
    expect((error as Error).message).not.toContain(NIX_LINE);
  });

  it('lab deploy says what to put in nix.conf; lab sequence prints no warning', async () => {
    const flake = await copyFixture('systems');
    const dir = await temporaryDir('lab-build-users-');
    const key = join(dir, 'id_ed25519');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'lab-test', '-f', key]);
    const knownHosts = join(dir, 'known_hosts');
    await writeFile(knownHosts, '');
    // As a user's nix.conf would set it (NIX_CONFIG is read like one more nix.conf).
    const env = { NIX_CONFIG: `substituters =\nbuild-users-group = ${NO_SUCH_GROUP}`, LAB_NO_CACHE: '1' };

    const deploy = await execa(
      'node',
      [cli, 'deploy', 'broken', '--yes', '--flake', flake, '--ssh-key', key, '--known-hosts', knownHosts],
      { env, reject: false },
    );
    const output = `${deploy.stdout}\n${deploy.stderr}`;
    expect(deploy.exitCode, output).toBe(1);
    expect(output).toContain(
      `nix refuses to build on this machine: its build-users-group setting names the group '${NO_SUCH_GROUP}'`,
    );
    expect(output).toContain("put the line 'build-users-group =' in /etc/nix/nix.conf");
    expect(output).not.toContain(NIX_LINE);

    const sequence = await execa('node', [cli, 'sequence', '--json', '--flake', flake], {
      env,
      reject: false,
    });
    expect(sequence.stderr).toBe('');
    expect(sequence.exitCode).toBe(0);
    expect(JSON.parse(sequence.stdout).steps.length).toBeGreaterThan(0);
  });
});
