import { describe, expect, it } from 'vitest';
import { HOST_FACTS_COMMAND, parseHostFacts } from '../../src/domain/hosts/host-facts.js';
import { commandLine, quote } from '../../src/transport/ssh/shell.js';

describe('quote', () => {
  it('leaves plain words alone and single-quotes everything else', () => {
    expect(quote('systemctl')).toBe('systemctl');
    expect(quote('/run/current-system')).toBe('/run/current-system');
    expect(quote('')).toBe("''");
    expect(quote('a b')).toBe("'a b'");
    expect(quote("it's")).toBe("'it'\\''s'");
    expect(quote('$(reboot); `id` | x > y\nz')).toBe("'$(reboot); `id` | x > y\nz'");
  });

  it('builds a command line with every argument quoted', () => {
    expect(commandLine('timeout', '5', 'sh', '-c', "curl -sf http://localhost/health && echo 'ok'")).toBe(
      "timeout 5 sh -c 'curl -sf http://localhost/health && echo '\\''ok'\\'''",
    );
  });
});

describe('host facts', () => {
  it('reads everything in one fixed command', () => {
    expect(HOST_FACTS_COMMAND).toContain('/proc/sys/kernel/random/boot_id');
    expect(HOST_FACTS_COMMAND).toContain('readlink -f /run/$s-system/$c');
  });

  const output = (booted: { kernel: string; initrd: string; modules: string }) =>
    [
      'boot_id=0b8a6f4e-6c43-4a1b-9f0e-2d1c3b4a5e6f',
      'current=/nix/store/aaa-nixos-system-web',
      'current.kernel=/nix/store/k1-linux/bzImage',
      'current.initrd=/nix/store/i1-initrd/initrd',
      'current.kernel-modules=/nix/store/m1-modules',
      'booted=/nix/store/bbb-nixos-system-web',
      `booted.kernel=${booted.kernel}`,
      `booted.initrd=${booted.initrd}`,
      `booted.kernel-modules=${booted.modules}`,
      '',
    ].join('\n');

  it('needs no reboot when kernel, initrd and modules are the same', () => {
    const facts = parseHostFacts(
      output({
        kernel: '/nix/store/k1-linux/bzImage',
        initrd: '/nix/store/i1-initrd/initrd',
        modules: '/nix/store/m1-modules',
      }),
    );
    expect(facts).toEqual({
      bootId: '0b8a6f4e-6c43-4a1b-9f0e-2d1c3b4a5e6f',
      currentSystem: '/nix/store/aaa-nixos-system-web',
      bootedSystem: '/nix/store/bbb-nixos-system-web',
      needsReboot: false,
      changed: [],
    });
  });

  it('needs a reboot when the kernel or initrd changed, and says which', () => {
    const facts = parseHostFacts(
      output({
        kernel: '/nix/store/k0-linux/bzImage',
        initrd: '/nix/store/i0-initrd/initrd',
        modules: '/nix/store/m1-modules',
      }),
    );
    expect(facts.needsReboot).toBe(true);
    expect(facts.changed).toEqual(['kernel', 'initrd']);
  });

  it('refuses output without a boot id', () => {
    expect(() => parseHostFacts('boot_id=\n')).toThrow("unexpected boot id ''");
  });
});
