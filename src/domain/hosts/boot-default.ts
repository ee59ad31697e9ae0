/**
 * What a machine boots by default. On NixOS that is not the system profile: `switch-to-configuration
 * switch|boot` installs the boot loader with the system being activated as its default (and an
 * entry per profile generation); `test` leaves it alone. lab reads it back from the boot loader's
 * own configuration: systemd-boot, GRUB and extlinux as NixOS writes them.
 */

export type BootLoader = 'systemd-boot' | 'grub' | 'extlinux';

export interface BootDefault {
  /** The boot loader whose configuration was read, null when none could be. */
  readonly loader: BootLoader | null;
  /** The NixOS system (toplevel store path) it boots by default; null when unknown. */
  readonly system: string | null;
  /** Why the default is unknown; null when it is known. */
  readonly unknown: string | null;
}

/**
 * A fixed command (nothing in it comes from configuration) printing `key=value` lines:
 * - systemd-boot: the first of /boot, /boot/efi, /efi (the ESP) with loader/loader.conf, its
 *   `default` entry and that entry's `options` (from the ESP, or from an XBOOTLDR at /boot);
 * - GRUB: /boot/grub/grub.cfg's `set default=` values and, in order, its menu entries and `linux` lines;
 * - extlinux: /boot/extlinux/extlinux.conf's DEFAULT, and in order its LABEL and APPEND lines.
 * It reads files only and always exits 0.
 */
export const BOOT_DEFAULT_COMMAND = [
  'for esp in /boot /boot/efi /efi; do',
  '  [ -r "$esp/loader/loader.conf" ] || continue',
  '  printf "systemd-boot=%s\\n" "$esp/loader/loader.conf"',
  `  entry=$(sed -n 's/^default[[:space:]]\\{1,\\}//p' "$esp/loader/loader.conf" | tail -n 1)`,
  '  printf "systemd-boot.default=%s\\n" "$entry"',
  '  case $entry in ""|*[!A-Za-z0-9._+-]*) break ;; esac',
  '  for dir in "$esp" /boot; do',
  '    if [ -r "$dir/loader/entries/$entry" ]; then',
  `      sed -n 's/^options[[:space:]]\\{1,\\}/systemd-boot.options=/p' "$dir/loader/entries/$entry"`,
  '      break',
  '    fi',
  '  done',
  '  break',
  'done',
  'if [ -r /boot/grub/grub.cfg ]; then',
  '  echo grub=/boot/grub/grub.cfg',
  "  sed -n -e 's/^[[:space:]]*set default=/grub.default=/p' -e 's/^[[:space:]]*menuentry[[:space:]].*/grub.entry=/p' -e 's/^[[:space:]]*submenu[[:space:]].*/grub.entry=/p' -e 's/^[[:space:]]*linux[[:space:]]\\{1,\\}/grub.linux=/p' /boot/grub/grub.cfg",
  'fi',
  'if [ -r /boot/extlinux/extlinux.conf ]; then',
  '  echo extlinux=/boot/extlinux/extlinux.conf',
  "  sed -n -e 's/^DEFAULT[[:space:]]\\{1,\\}/extlinux.default=/p' -e 's/^LABEL[[:space:]]\\{1,\\}/extlinux.label=/p' -e 's/^[[:space:]]*APPEND[[:space:]]\\{1,\\}/extlinux.append=/p' /boot/extlinux/extlinux.conf",
  'fi',
  'true',
].join('\n');

/** The `key=value` lines of {@link BOOT_DEFAULT_COMMAND}, in order (keys repeat). */
export type KeyValues = readonly (readonly [string, string])[];

/** Splits command output into `key=value` pairs, in order. */
export function keyValues(output: string): KeyValues {
  const pairs: [string, string][] = [];
  for (const line of output.split('\n')) {
    const separator = line.indexOf('=');
    if (separator > 0) pairs.push([line.slice(0, separator), line.slice(separator + 1).trim()]);
  }
  return pairs;
}

const unknown = (loader: BootLoader | null, why: string): BootDefault => ({
  loader,
  system: null,
  unknown: why,
});

/**
 * A NixOS system's init: `<toplevel>/init` (or a specialisation's), the toplevel a store path
 * (`<store>/<32-character hash>-<name>`, as the boot loader installers resolve it).
 */
const NIXOS_INIT = /^(\/(?:[^/]+\/)*[0-9a-df-np-sv-z]{32}-[^/]+(?:\/specialisation\/[^/]+)?)\/init$/;

/** The system of a kernel command line's `init=<toplevel>/init`, as NixOS's boot entries have it. */
function initSystem(loader: BootLoader, commandLine: string | undefined, where: string): BootDefault {
  if (commandLine === undefined) return unknown(loader, `${where} has no kernel command line`);
  const init = /(?:^|\s)init=(\S+)/.exec(commandLine)?.[1];
  if (!init) return unknown(loader, `${where} passes no init= (not a NixOS entry)`);
  const system = NIXOS_INIT.exec(init)?.[1];
  if (!system) return unknown(loader, `${where} boots init=${init}, not a NixOS system's init`);
  return { loader, system, unknown: null };
}

function systemdBoot(pairs: KeyValues): BootDefault | null {
  const conf = pairs.find(([key]) => key === 'systemd-boot')?.[1];
  if (conf === undefined) return null;
  const entry = pairs.find(([key]) => key === 'systemd-boot.default')?.[1] ?? '';
  if (entry === '') return unknown('systemd-boot', `${conf} names no default entry`);
  if (!/^[A-Za-z0-9._+-]+$/.test(entry))
    return unknown(
      'systemd-boot',
      `${conf} names the default '${entry}', which is not one entry's file name`,
    );
  const options = pairs.filter(([key]) => key === 'systemd-boot.options').map(([, value]) => value);
  if (options.length === 0)
    return unknown('systemd-boot', `its default entry ${entry} is missing or has no options`);
  return initSystem('systemd-boot', options.join(' '), `systemd-boot's default entry ${entry}`);
}

function grub(pairs: KeyValues): BootDefault | null {
  if (!pairs.some(([key]) => key === 'grub')) return null;
  // NixOS's grub.cfg sets default="${next_entry}" for a one-time `grub-reboot`, else its configured default.
  const defaults = pairs
    .filter(([key, value]) => key === 'grub.default' && !value.includes('next_entry'))
    .map(([, value]) => value.replace(/^"(.*)"$/, '$1'));
  const other = defaults.find((value) => value !== '0');
  if (other !== undefined) return unknown('grub', `GRUB's default is '${other}': lab reads only entry 0`);
  const start = pairs.findIndex(([key]) => key === 'grub.entry');
  if (start < 0) return unknown('grub', 'grub.cfg has no menu entry');
  const next = pairs.findIndex(([key], index) => index > start && key === 'grub.entry');
  const linux = pairs
    .slice(start + 1, next < 0 ? undefined : next)
    .find(([key]) => key === 'grub.linux')?.[1];
  return initSystem('grub', linux, "GRUB's first menu entry");
}

function extlinux(pairs: KeyValues): BootDefault | null {
  if (!pairs.some(([key]) => key === 'extlinux')) return null;
  const label = pairs.find(([key]) => key === 'extlinux.default')?.[1];
  if (!label) return unknown('extlinux', 'extlinux.conf names no DEFAULT');
  const start = pairs.findIndex(([key, value]) => key === 'extlinux.label' && value === label);
  if (start < 0) return unknown('extlinux', `extlinux.conf has no LABEL ${label}`);
  const next = pairs.findIndex(([key], index) => index > start && key === 'extlinux.label');
  const append = pairs
    .slice(start + 1, next < 0 ? undefined : next)
    .find(([key]) => key === 'extlinux.append')?.[1];
  return initSystem('extlinux', append, `extlinux's default ${label}`);
}

/**
 * The boot default from {@link BOOT_DEFAULT_COMMAND}'s output. When configurations of several boot
 * loaders are present (a machine that changed loaders keeps the old one's files) and they name
 * different systems, which one the firmware starts cannot be told from here: unknown.
 */
export function parseBootDefault(pairs: KeyValues): BootDefault {
  const found = [systemdBoot(pairs), grub(pairs), extlinux(pairs)].filter(
    (result): result is BootDefault => result !== null,
  );
  const [first] = found;
  if (!first) return unknown(null, 'no systemd-boot, GRUB or extlinux configuration was found in /boot');
  if (found.length === 1) return first;
  const systems = new Set(found.map((result) => result.system));
  if (systems.size === 1 && first.system !== null) return first;
  return unknown(
    null,
    `configurations of several boot loaders were found (${found
      .map((result) => `${result.loader}: ${result.system ?? result.unknown}`)
      .join('; ')})`,
  );
}
