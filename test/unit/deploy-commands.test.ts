import { describe, expect, it } from 'vitest';
import { activationCommand, activationUnit } from '../../src/domain/deploy/activation-command.js';
import { toplevelInstallable } from '../../src/domain/deploy/build-systems.js';
import { copyFailure, nixSshOptions, storeUri } from '../../src/domain/deploy/copy-closure.js';
import { parseSystems, READ_SYSTEMS_COMMAND } from '../../src/domain/deploy/machine-systems.js';
import {
  deleteGenerationCommand,
  restoreProfileCommand,
  setProfileCommand,
  switchCommand,
  switchGenerationCommand,
} from '../../src/domain/deploy/remote-commands.js';
import { BOOT_DEFAULT_COMMAND } from '../../src/domain/hosts/boot-default.js';

const system = '/nix/store/0qi9ikxz3jxxizf49vzp098biw5jff7m-nixos-system-web-2';
const target = { machine: 'web', host: '10.0.0.5', port: 2222, user: 'deploy' };

describe('deploy command lines', () => {
  it('activates, sets the profile and puts it back on exactly the generation it was on', () => {
    expect(switchCommand(system, 'test')).toBe(`${system}/bin/switch-to-configuration test`);
    expect(switchCommand(system, 'boot')).toBe(`${system}/bin/switch-to-configuration boot`);
    expect(setProfileCommand(system)).toBe(
      `nix-env -p /nix/var/nix/profiles/system --set ${system} && readlink /nix/var/nix/profiles/system`,
    );
    expect(switchGenerationCommand(4)).toBe('nix-env -p /nix/var/nix/profiles/system --switch-generation 4');
    expect(deleteGenerationCommand(5)).toBe('nix-env -p /nix/var/nix/profiles/system --delete-generations 5');
    expect(restoreProfileCommand(4, 5)).toBe(
      'nix-env -p /nix/var/nix/profiles/system --switch-generation 4 && ' +
        'nix-env -p /nix/var/nix/profiles/system --delete-generations 5',
    );
    expect(restoreProfileCommand(4, null)).toBe(
      'nix-env -p /nix/var/nix/profiles/system --switch-generation 4',
    );
    expect(() => switchGenerationCommand(0)).toThrow('invalid profile generation: 0');
    expect(() => deleteGenerationCommand(1.5)).toThrow('invalid profile generation: 1.5');
  });

  it('quotes a path that is not a plain store path', () => {
    expect(switchCommand("/tmp/it's here", 'switch')).toBe(
      `'/tmp/it'\\''s here/bin/switch-to-configuration' switch`,
    );
  });

  it('activates in a transient unit named by the activation where systemd is PID 1, else detached', () => {
    const job = (id: string) =>
      `'echo $$ >"$1/pid"; (\n${system}/bin/switch-to-configuration switch\n) </dev/null >"$1/output" 2>&1; ` +
      `echo $? >"$1/status.new"; mv "$1/status.new" "$1/status"' sh /run/lab/detached/${id}`;
    expect(activationUnit('run-1-a2')).toBe('lab-activation-run-1-a2');
    expect(activationCommand('run-1-a2', system, 'switch')).toBe(
      [
        'mkdir -p /run/lab/detached',
        'find /run/lab/detached -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf {} + 2>/dev/null',
        'if mkdir /run/lab/detached/run-1-a2 2>/dev/null; then',
        '  if [ -d /run/systemd/system ]; then',
        '    systemd-run -E LOCALE_ARCHIVE -E NIXOS_INSTALL_BOOTLOADER= --collect --no-ask-password --pipe ' +
          `--quiet --service-type=exec --unit=lab-activation-run-1-a2 --wait sh -c ${job('run-1-a2')} </dev/null`,
        '    if [ ! -e /run/lab/detached/run-1-a2/status ]; then',
        "      echo 'lab: systemd-run gave no exit status of the activation (unit lab-activation-run-1-a2)' >/run/lab/detached/run-1-a2/output",
        '      echo 255 >/run/lab/detached/run-1-a2/status',
        '    fi',
        '  else',
        `    setsid sh -c ${job('run-1-a2')} </dev/null >/dev/null 2>&1 &`,
        '  fi',
        'fi',
        'while [ ! -e /run/lab/detached/run-1-a2/status ]; do',
        '  if [ -s /run/lab/detached/run-1-a2/pid ] && ! kill -0 "$(cat /run/lab/detached/run-1-a2/pid)" 2>/dev/null && [ ! -e /run/lab/detached/run-1-a2/status ]; then',
        "    echo 'lab: the detached command ended without an exit status' >&2; exit 255",
        '  fi',
        '  sleep 0.2',
        'done',
        'cat /run/lab/detached/run-1-a2/output >&2',
        'exit "$(cat /run/lab/detached/run-1-a2/status)"',
      ].join('\n'),
    );
  });

  it('reads what runs, the profile, what booted and the boot default in one fixed command', () => {
    expect(READ_SYSTEMS_COMMAND).toBe(
      [
        'printf "current=%s\\n" "$(readlink -f /run/current-system 2>/dev/null)"',
        'printf "profile=%s\\n" "$(readlink -f /nix/var/nix/profiles/system 2>/dev/null)"',
        'printf "profile.link=%s\\n" "$(readlink /nix/var/nix/profiles/system 2>/dev/null)"',
        'for c in kernel initrd kernel-modules; do',
        '  printf "booted.%s=%s\\n" "$c" "$(readlink /run/booted-system/$c 2>/dev/null)"',
        'done',
        BOOT_DEFAULT_COMMAND,
      ].join('\n'),
    );
  });

  it('parses the systems, the generation and the boot parts', () => {
    const output = [
      `current=${system}`,
      `profile=${system}`,
      'profile.link=system-12-link',
      'booted.kernel=/nix/store/k1-linux-6.6/bzImage',
      'booted.initrd=/nix/store/i1-initrd-linux-6.6/initrd',
      'booted.kernel-modules=/nix/store/m1-linux-6.6-modules',
      'systemd-boot=/boot/loader/loader.conf',
      'systemd-boot.default=nixos-generation-12.conf',
      `systemd-boot.options=init=${system}/init loglevel=4`,
      '',
    ].join('\n');
    expect(parseSystems(output)).toEqual({
      current: system,
      profile: system,
      generation: 12,
      bootDefault: { loader: 'systemd-boot', system, unknown: null },
      booted: {
        kernel: '/nix/store/k1-linux-6.6/bzImage',
        initrd: '/nix/store/i1-initrd-linux-6.6/initrd',
        'kernel-modules': '/nix/store/m1-linux-6.6-modules',
      },
    });
    expect(parseSystems(`current=${system}\nprofile=\nprofile.link=\nbooted.kernel=\n`)).toEqual({
      current: system,
      profile: null,
      generation: null,
      bootDefault: {
        loader: null,
        system: null,
        unknown: 'no systemd-boot, GRUB or extlinux configuration was found in /boot',
      },
      booted: null,
    });
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
