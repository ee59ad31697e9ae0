import { describe, expect, it } from 'vitest';
import { toplevelInstallable } from '../../src/domain/deploy/build-systems.js';
import { copyFailure, nixSshOptions, storeUri } from '../../src/domain/deploy/copy-closure.js';
import {
  commitCommand,
  parseSystems,
  READ_SYSTEMS_COMMAND,
  rollbackProfileCommand,
  setProfileCommand,
  switchCommand,
} from '../../src/domain/deploy/remote-commands.js';

const system = '/nix/store/0qi9ikxz3jxxizf49vzp098biw5jff7m-nixos-system-web-2';
const target = { machine: 'web', host: '10.0.0.5', port: 2222, user: 'deploy' };

describe('deploy command lines', () => {
  it('activates, sets and rolls back the system profile', () => {
    expect(switchCommand(system, 'test')).toBe(`${system}/bin/switch-to-configuration test`);
    expect(setProfileCommand(system)).toBe(`nix-env -p /nix/var/nix/profiles/system --set ${system}`);
    expect(commitCommand(system)).toBe(
      `nix-env -p /nix/var/nix/profiles/system --set ${system} && ${system}/bin/switch-to-configuration switch`,
    );
    expect(rollbackProfileCommand()).toBe('nix-env -p /nix/var/nix/profiles/system --rollback');
    expect(READ_SYSTEMS_COMMAND).toBe(
      'readlink -f /run/current-system; readlink -f /nix/var/nix/profiles/system || true',
    );
  });

  it('quotes a path that is not a plain store path', () => {
    expect(switchCommand("/tmp/it's here", 'switch')).toBe(
      `'/tmp/it'\\''s here/bin/switch-to-configuration' switch`,
    );
  });

  it('reads the current system and the profile', () => {
    expect(parseSystems(`${system}\n${system}\n`)).toEqual({ current: system, profile: system });
    expect(parseSystems(`${system}\n\n`)).toEqual({ current: system, profile: null });
  });

  it("names a machine's toplevel, refusing names that are not host names", () => {
    expect(toplevelInstallable('./lab', 'web-1')).toBe(
      './lab#nixosConfigurations."web-1".config.system.build.toplevel',
    );
    expect(() => toplevelInstallable('./lab', 'x".y')).toThrow("'x\".y' is not a valid machine name");
  });

  it("gives nix's ssh lab's key, known_hosts and the machine's port", () => {
    expect(storeUri(target)).toBe('ssh-ng://deploy@10.0.0.5');
    expect(storeUri({ ...target, host: 'fe80::1' })).toBe('ssh-ng://deploy@[fe80::1]');
    expect(nixSshOptions(target, { keyPath: '/k/id', knownHostsPath: '/k/known_hosts' })).toBe(
      '-i /k/id -o UserKnownHostsFile=/k/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10 -p 2222',
    );
    expect(() => nixSshOptions(target, { knownHostsPath: '/my keys/known_hosts' })).toThrow(
      /path with spaces/,
    );
  });
});

describe('a failed copy with an encrypted key', () => {
  const denied = 'failed to start SSH connection to root@web: Permission denied (publickey).';
  it('says what to do: nix copies with ssh, which cannot use LAB_SSH_KEY_PASSPHRASE', () => {
    expect(copyFailure(denied, { keyPath: '/k/id', knownHostsPath: '/k/kh', encryptedKey: true })).toBe(
      `${denied} (the key is encrypted, and nix copies with ssh, which cannot use LAB_SSH_KEY_PASSPHRASE: ` +
        'load the key into ssh-agent and set SSH_AUTH_SOCK, or use an unencrypted key kept as a secret)',
    );
  });

  it('leaves other failures and unencrypted keys alone', () => {
    expect(copyFailure(denied, { keyPath: '/k/id', knownHostsPath: '/k/kh' })).toBe(denied);
    expect(
      copyFailure('path /nix/store/x is not valid', { knownHostsPath: '/k/kh', encryptedKey: true }),
    ).toBe('path /nix/store/x is not valid');
  });
});
