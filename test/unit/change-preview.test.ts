import { describe, expect, it } from 'vitest';
import { withApprovalPreviews } from '../../src/discord/render/approval-previews.js';
import { approvalPreview, previewMessage } from '../../src/discord/render/change-preview.js';
import {
  type MachinePreview,
  previewChanges,
  previewMachine,
} from '../../src/domain/deploy/change-preview.js';
import type { MachineSystems } from '../../src/domain/deploy/deploy-host.js';
import { PreviewStepError } from '../../src/domain/deploy/errors.js';
import {
  closureSizesCommand,
  diffClosuresCommand,
  dryActivateCommand,
} from '../../src/domain/deploy/preview-commands.js';
import { previewDigest, previewedSystems } from '../../src/domain/deploy/preview-digest.js';
import type { PreviewHost } from '../../src/domain/deploy/preview-host.js';
import {
  parseClosureSizes,
  parseDiffClosures,
  parseDryActivate,
  unitChanges,
} from '../../src/domain/deploy/preview-parsers.js';
import type { Machine } from '../../src/domain/inventory/schema.js';
import type { DeployStep } from '../../src/domain/planner/deploy-steps.js';
import { limitProblem } from '../discord/fake-discord.js';
import { machine } from '../support/machines.js';

const OLD = '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-db-24.05.1';
const NEW = '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-nixos-system-db-24.05.2';

describe('preview command lines', () => {
  it('diff-closures, path-info and dry-activate with every path quoted', () => {
    expect(diffClosuresCommand(OLD, NEW)).toBe(
      `nix --extra-experimental-features nix-command store diff-closures ${OLD} ${NEW}`,
    );
    expect(closureSizesCommand([OLD, NEW])).toBe(
      `nix --extra-experimental-features nix-command path-info --json --closure-size ${OLD} ${NEW}`,
    );
    expect(dryActivateCommand(NEW)).toBe(`${NEW}/bin/switch-to-configuration dry-activate 2>&1`);
    expect(dryActivateCommand("/nix/store/x-a b';reboot")).toBe(
      `'/nix/store/x-a b'\\'';reboot/bin/switch-to-configuration' dry-activate 2>&1`,
    );
    expect(diffClosuresCommand('$(reboot)', 'b c')).toBe(
      "nix --extra-experimental-features nix-command store diff-closures '$(reboot)' 'b c'",
    );
  });
});

describe('parseDiffClosures', () => {
  it('reads what nix prints: versions changed, added, removed, sizes, ∅ and ε, colours dropped', () => {
    const output = [
      'firefox: 125.0 → 126.0, \u001b[31;1m+1024.5 KiB\u001b[0m',
      'initrd-linux: 6.6.30 → 6.6.31',
      'linux: 6.6.30 → 6.6.31, \u001b[32;1m-12.0 KiB\u001b[0m',
      'hello: ∅ → 2.12.1, \u001b[31;1m+120.3 KiB\u001b[0m',
      'nano: 7.2 → ∅, \u001b[32;1m-2900.1 KiB\u001b[0m',
      'python3: 3.11.9, 3.12.3 → 3.12.4',
      'source: ε → ∅',
      'glibc: \u001b[31;1m+16.0 KiB\u001b[0m',
      'warning: Git tree is dirty',
      '',
    ].join('\n');
    const diff = parseDiffClosures(output);
    expect(diff.changed).toEqual([
      { name: 'firefox', before: ['125.0'], after: ['126.0'], sizeDelta: 1049088 },
      { name: 'initrd-linux', before: ['6.6.30'], after: ['6.6.31'], sizeDelta: null },
      { name: 'linux', before: ['6.6.30'], after: ['6.6.31'], sizeDelta: -12288 },
      { name: 'python3', before: ['3.11.9', '3.12.3'], after: ['3.12.4'], sizeDelta: null },
    ]);
    expect(diff.added).toEqual([{ name: 'hello', before: [], after: ['2.12.1'], sizeDelta: 123187 }]);
    expect(diff.removed).toEqual([
      { name: 'nano', before: ['7.2'], after: [], sizeDelta: -2969702 },
      { name: 'source', before: [''], after: [], sizeDelta: null },
    ]);
    expect(diff.resized).toEqual([{ name: 'glibc', before: [], after: [], sizeDelta: 16384 }]);
  });

  it('an empty diff is empty', () => {
    expect(parseDiffClosures('')).toEqual({ changed: [], added: [], removed: [], resized: [] });
  });
});

describe('parseClosureSizes', () => {
  it('reads the list of Nix < 2.19 and the object keyed by path of newer ones', () => {
    const list = JSON.stringify([
      { path: OLD, narSize: 10, closureSize: 1000 },
      { path: NEW, narSize: 11, closureSize: 1500 },
    ]);
    const object = JSON.stringify({
      [OLD]: { narSize: 10, closureSize: 1000 },
      [NEW]: { closureSize: 1500 },
    });
    const expected = new Map([
      [OLD, 1000],
      [NEW, 1500],
    ]);
    expect(parseClosureSizes(list)).toEqual(expected);
    expect(parseClosureSizes(object)).toEqual(expected);
  });
});

describe('parseDryActivate', () => {
  // What NixOS's switch-to-configuration prints for a changed service (stopped, then started: its
  // default stopIfChanged), a removed one, a reloaded one and one with stopIfChanged = false.
  const output = [
    'would stop the following units: nginx.service, old-exporter.service, postgresql.service',
    'would NOT stop the following changed units: getty@tty1.service',
    'would activate the configuration...',
    'setting up /etc...',
    'would restart systemd',
    'would reload the following units: dbus-broker.service, sshd.service',
    'would restart the following units: systemd-journald.service',
    'would start the following units: nginx.service, postgresql.service',
  ].join('\n');

  it('reads each list as printed', () => {
    expect(parseDryActivate(output)).toEqual({
      stop: ['nginx.service', 'old-exporter.service', 'postgresql.service'],
      notStopped: ['getty@tty1.service'],
      restart: ['systemd-journald.service'],
      start: ['nginx.service', 'postgresql.service'],
      reload: ['dbus-broker.service', 'sshd.service'],
      restartSystemd: true,
    });
  });

  it('a unit stopped and started again is restarted', () => {
    expect(unitChanges(parseDryActivate(output))).toEqual({
      started: [],
      stopped: ['old-exporter.service'],
      restarted: ['nginx.service', 'postgresql.service', 'systemd-journald.service'],
      reloaded: ['dbus-broker.service', 'sshd.service'],
      notRestarted: ['getty@tty1.service'],
      restartSystemd: true,
    });
    expect(unitChanges(parseDryActivate('would activate the configuration...\n'))).toEqual({
      started: [],
      stopped: [],
      restarted: [],
      reloaded: [],
      notRestarted: [],
      restartSystemd: false,
    });
  });
});

/** A machine's part of a preview, as a PreviewHost sees it: some steps fail. */
function host(fail: Partial<Record<'systems' | 'copy' | 'diff' | 'size' | 'dry', string>> = {}) {
  const calls: string[] = [];
  const step = (name: keyof typeof fail, m: Machine, label: string) => {
    calls.push(`${label} ${m.name}`);
    if (fail[name]) throw new PreviewStepError(m.name, label, fail[name] as string);
  };
  const systems: MachineSystems = {
    current: OLD,
    profile: OLD,
    generation: 3,
    bootDefault: { loader: 'systemd-boot', system: OLD, unknown: null },
    booted: {
      kernel: '/nix/store/k1/bzImage',
      initrd: '/nix/store/i1/initrd',
      'kernel-modules': '/nix/store/m1',
    },
  };
  const previewHost: PreviewHost = {
    systems: async (m) => {
      step('systems', m, 'read');
      return systems;
    },
    copy: async (m) => step('copy', m, 'copy'),
    diffClosures: async (m) => {
      step('diff', m, 'diff');
      return 'linux: 6.6.30 → 6.6.31\n';
    },
    closureSizes: async (m) => {
      step('size', m, 'size');
      return new Map([
        [OLD, 1000],
        [NEW, 1200],
      ]);
    },
    dryActivate: async (m) => {
      step('dry', m, 'dry-activate');
      return 'would stop the following units: a.service\nwould start the following units: a.service\n';
    },
  };
  return { previewHost, calls };
}

const NEW_BOOT = {
  kernel: '/nix/store/k2/bzImage',
  initrd: '/nix/store/i1/initrd',
  'kernel-modules': '/nix/store/m2',
};

describe('previewMachine', () => {
  it('copies, diffs, sizes and dry-activates, in that order, and says a reboot is needed', async () => {
    const { previewHost, calls } = host();
    const preview = await previewMachine(previewHost, machine('db'), { system: NEW, boot: NEW_BOOT });
    expect(calls).toEqual(['read db', 'copy db', 'diff db', 'size db', 'dry-activate db']);
    expect(preview).toEqual({
      machine: 'db',
      system: NEW,
      current: OLD,
      changes: true,
      packages: {
        changed: [{ name: 'linux', before: ['6.6.30'], after: ['6.6.31'], sizeDelta: null }],
        added: [],
        removed: [],
        resized: [],
      },
      closureSize: { before: 1000, after: 1200, delta: 200 },
      needsReboot: true,
      bootChanges: ['kernel', 'kernel-modules'],
      units: {
        started: [],
        stopped: [],
        restarted: ['a.service'],
        reloaded: [],
        notRestarted: [],
        restartSystemd: false,
      },
      problems: [],
    });
  });

  it('a closure that cannot be copied is named with the reason, and nothing runs after it', async () => {
    const { previewHost, calls } = host({ copy: 'no space left on device' });
    const preview = await previewMachine(previewHost, machine('db'), { system: NEW, boot: null });
    expect(calls).toEqual(['read db', 'copy db']);
    expect(preview.problems).toEqual([{ step: 'copy', reason: 'no space left on device' }]);
    expect(preview).toMatchObject({ packages: null, units: null, current: OLD, needsReboot: null });
  });

  it('a failed diff leaves the units; a failed dry-activate leaves the packages', async () => {
    const noDiff = await previewMachine(host({ diff: 'path is not valid' }).previewHost, machine('db'), {
      system: NEW,
      boot: null,
    });
    expect(noDiff.problems).toEqual([{ step: 'diff', reason: 'path is not valid' }]);
    expect(noDiff.packages).toBeNull();
    expect(noDiff.units?.restarted).toEqual(['a.service']);
    const noDry = await previewMachine(
      host({ dry: 'This is not a NixOS installation!' }).previewHost,
      machine('db'),
      {
        system: NEW,
        boot: null,
      },
    );
    expect(noDry.problems).toEqual([{ step: 'dry-activate', reason: 'This is not a NixOS installation!' }]);
    expect(noDry.units).toBeNull();
    expect(noDry.packages?.changed).toHaveLength(1);
  });

  it('a machine that already runs the new system changes nothing, and nothing is copied', async () => {
    const { previewHost, calls } = host();
    const preview = await previewMachine(previewHost, machine('db'), { system: OLD, boot: null });
    expect(calls).toEqual(['read db']);
    expect(preview).toMatchObject({ changes: false, packages: { changed: [] }, units: { restarted: [] } });
  });

  it('previewChanges keeps the order, names a machine that did not build or cannot be reached, previews the others', async () => {
    const { previewHost } = host();
    const failing: PreviewHost = {
      ...previewHost,
      systems: async (m) => {
        if (m.name === 'nas') throw new PreviewStepError('nas', 'read', 'connection refused');
        return previewHost.systems(m);
      },
    };
    const previews = await previewChanges(
      failing,
      [machine('nas'), machine('db'), machine('web')],
      new Map([
        ['nas', { system: NEW, boot: null }],
        ['db', { system: NEW, boot: null }],
        ['web', { failed: 'builder for nixos-system-web.drv failed' }],
      ]),
    );
    expect(previews.map((p) => [p.machine, p.problems])).toEqual([
      ['nas', [{ step: 'read', reason: 'connection refused' }]],
      ['db', []],
      ['web', [{ step: 'build', reason: 'builder for nixos-system-web.drv failed' }]],
    ]);
  });
});

describe('previewDigest', () => {
  const nasStep: DeployStep = { rebootOrder: 1, strategy: 'rolling', machines: [machine('nas')] };
  const dbStep: DeployStep = {
    rebootOrder: 2,
    strategy: 'blue-green',
    machines: [machine('db', { criticalityLevel: 'high' })],
  };
  const steps = [nasStep, dbStep];
  const systems = new Map([
    ['nas', '/nix/store/nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn-nixos-system-nas'],
    ['db', OLD],
  ]);

  it('is the same for the same plan and store paths, in any order of the paths', () => {
    const digest = previewDigest(steps, systems);
    expect(digest).toMatch(/^[0-9a-f]{16}$/);
    expect(previewDigest(steps, new Map([...systems].reverse()))).toBe(digest);
  });

  it('changes with a store path (the flake changed), the order, the strategy or a criticality', () => {
    const digest = previewDigest(steps, systems);
    expect(previewDigest(steps, new Map([...systems, ['db', NEW]]))).not.toBe(digest);
    expect(previewDigest([...steps].reverse(), systems)).not.toBe(digest);
    expect(previewDigest([{ ...nasStep, strategy: 'recreate' }, dbStep], systems)).not.toBe(digest);
    const critical = { ...dbStep, machines: [machine('db', { criticalityLevel: 'critical' })] };
    expect(previewDigest([nasStep, critical], systems)).not.toBe(digest);
  });

  it('previewedSystems takes the systems that built', () => {
    expect(
      previewedSystems([
        { machine: 'db', system: NEW },
        { machine: 'web', system: null },
      ]),
    ).toEqual(new Map([['db', NEW]]));
  });
});

describe('the Discord preview message stays within Discord’s limits', () => {
  const big = (name: string): MachinePreview => ({
    machine: name,
    system: NEW,
    current: OLD,
    changes: true,
    packages: {
      changed: Array.from({ length: 60 }, (_, i) => ({
        name: `tool-${i}x`,
        before: ['1.0'],
        after: ['1.1'],
        sizeDelta: null,
      })),
      added: [],
      removed: [],
      resized: [],
    },
    closureSize: { before: 1000, after: 2000, delta: 1000 },
    needsReboot: false,
    bootChanges: [],
    units: {
      started: [],
      stopped: [],
      restarted: ['a.service'],
      reloaded: [],
      notRestarted: [],
      restartSystemd: false,
    },
    problems: [],
  });

  it('forty long machines: at most 25 fields, 6000 characters, and the whole as a file', () => {
    const previews = Array.from({ length: 40 }, (_, i) => big(`machine-${i}`));
    const message = previewMessage(previews, {
      title: 'What a deploy of all would change',
      digest: 'abcdef0123456789',
    });
    expect(limitProblem({ embeds: message.embeds }, [])).toBeNull();
    expect(message.embeds[0]?.fields?.length).toBeLessThanOrEqual(25);
    expect(message.files.map((file) => file.name)).toEqual(['changes-abcdef0123456789.txt']);
    expect(message.files[0]?.attachment.toString()).toContain('machine-39:\n  versions: tool-0x 1.0 → 1.1;');
  });

  it('a short preview has every machine as a field and no file; approvalPreview gives the fields of one', () => {
    const small = { ...big('db'), packages: { changed: [], added: [], removed: [], resized: [] } };
    const message = previewMessage([small], { title: 't', digest: 'd' });
    expect(message.files).toEqual([]);
    expect(message.embeds[0]?.fields).toEqual([
      {
        name: '🔸 db',
        value: [
          'no package versions change',
          'closure: 1000 B → 2.0 KiB (+1000 B)',
          'no reboot needed (kernel, initrd and modules as booted)',
          'units restarted: a.service',
        ].join('\n'),
      },
    ]);
    const approval = approvalPreview(big('db'), 'abcdef0123456789');
    expect(approval.fields[0]?.name).toBe('What the deploy changes on db');
    expect(approval.fields[0]?.value.length).toBeLessThanOrEqual(1024);
    expect(approval.files).toHaveLength(1);
    expect(
      limitProblem({ embeds: [{ title: 'Approve deploy of db?', fields: approval.fields }] }),
    ).toBeNull();
  });

  it('the run message of deploy approvals: each waiting machine’s preview in fields, a long one whole as a file', () => {
    const message = {
      embeds: [{ title: 'Deploy run r1 · running', description: 'x'.repeat(3000), fields: [] }],
      components: [],
    };
    const previews = new Map([
      ['db', { digest: '0123456789abcdef', preview: big('db') }],
      ['web', { digest: '0123456789abcdef', preview: null }],
    ]);
    const { message: out, files } = withApprovalPreviews(message, previews);
    const fields = out.embeds[0]?.fields ?? [];
    expect(fields.map((field) => field.name)).toEqual([
      'What the deploy changes on db',
      'Preview',
      'What the deploy changes on web',
    ]);
    expect(fields[0]?.value.length).toBeLessThanOrEqual(1024);
    expect(fields[1]?.value).toBe('`0123456789abcdef`');
    expect(fields[2]?.value).toBe('no preview could be made');
    expect(files.map((file) => file.name)).toEqual(['changes-0123456789abcdef.txt']);
    expect(files[0]?.attachment.toString('utf8')).toContain('tool-59x 1.0 → 1.1');
    expect(out.attachments).toEqual([{ id: 0, filename: 'changes-0123456789abcdef.txt' }]);
  });
});
