import { describe, expect, it } from 'vitest';
import {
  attributeFailures,
  closureOf,
  failedDerivations,
  parsePathInfo,
} from '../../src/domain/deploy/build-failure.js';

const app = '/nix/store/n5s8m7sarn2hsr57vgd8l3ifg8f6ry0n-unit-app.service.drv';
const shared = '/nix/store/0vfpp2wfj11plydcm08sygpmpwg5n1yz-unit-shared.service.drv';
const db = '/nix/store/231jkgybwa9icdinnq7y9pw76zjffh1z-system-db.drv';
const gw = '/nix/store/zcc1n981476rxnn48k3ry3zvs7rap6a2-system-gw.drv';
const web = '/nix/store/y0dy3kmzx53gjl948l7jhyjb8a8f1k53-system-web.drv';

describe('the failed derivations of a nix build --keep-going', () => {
  it("are read from Nix 2.8's stderr, without the ones that only say a dependency failed", () => {
    // As `nix build --keep-going` (Nix 2.8) wrote it.
    const stderr = [
      `building '${app}'...`,
      `error: builder for '${app}' failed with exit code 4;`,
      '       last 1 log lines:',
      '       > app fails',
      `       For full logs, run 'nix log ${app}'.`,
      `building '${shared}'...`,
      `error: builder for '${shared}' failed with exit code 1;`,
      '       last 1 log lines:',
      '       > error: shared fails!',
      `       For full logs, run 'nix log ${shared}'.`,
      `error: 1 dependencies of derivation '${db}' failed to build`,
      '',
    ].join('\n');
    expect(failedDerivations(stderr)).toEqual([
      {
        drvPath: app,
        message: `builder for '${app}' failed with exit code 4; last 1 log lines: > app fails`,
      },
      {
        drvPath: shared,
        message: `builder for '${shared}' failed with exit code 1; last 1 log lines: > error: shared fails!`,
      },
    ]);
  });

  it('are read from the wording of newer Nix, colours and all', () => {
    const stderr = [
      `\u001b[31;1merror:\u001b[0m Cannot build '${shared}'.`,
      '       Reason: builder failed with exit code 1.',
      '       Last 1 log lines:',
      '       > error: shared fails!',
      '       For full logs, run:',
      `         nix log ${shared}`,
      `error: Cannot build '${gw}'.`,
      '       Reason: 1 dependency failed.',
      `error: build of '${gw}', '${web}' failed`,
    ].join('\n');
    expect(failedDerivations(stderr)).toEqual([
      {
        drvPath: shared,
        message: `Cannot build '${shared}'. Reason: builder failed with exit code 1. Last 1 log lines: > error: shared fails!`,
      },
    ]);
  });
});

describe('nix path-info --json', () => {
  it('is read in the list form of Nix before 2.19 and the object form after', () => {
    const old = JSON.stringify([
      { path: '/nix/store/a-system-db', valid: false },
      { path: '/nix/store/b-system-ok', narHash: 'sha256-x', references: ['/nix/store/c-dep'] },
    ]);
    const modern = JSON.stringify({
      '/nix/store/a-system-db': null,
      '/nix/store/b-system-ok': { narHash: 'sha256-x', references: ['/nix/store/c-dep'] },
    });
    const expected = new Map([
      ['/nix/store/a-system-db', null],
      ['/nix/store/b-system-ok', ['/nix/store/c-dep']],
    ]);
    expect(parsePathInfo(old)).toEqual(expected);
    expect(parsePathInfo(modern)).toEqual(expected);
  });
});

describe('which machine a failed derivation belongs to', () => {
  const graph = new Map<string, string[] | null>([
    [gw, [shared]],
    [db, [shared]],
    [web, [app]],
    [shared, []],
    [app, []],
  ]);

  it('follows references from the root, the root included', () => {
    expect([...closureOf(graph, gw)].sort()).toEqual([shared, gw].sort());
    expect([...closureOf(graph, '/nix/store/unknown.drv')]).toEqual(['/nix/store/unknown.drv']);
  });

  it('gives each machine the failures of its own closure; built machines are named apart', () => {
    const systems = new Map([
      ['gw', { outPath: '/nix/store/gw-out', drvPath: gw, boot: null }],
      ['ok', { outPath: '/nix/store/ok-out', drvPath: '/nix/store/ok.drv', boot: null }],
      ['db', { outPath: '/nix/store/db-out', drvPath: db, boot: null }],
      ['web', { outPath: '/nix/store/web-out', drvPath: web, boot: null }],
      ['lost', { outPath: '/nix/store/lost-out', drvPath: '/nix/store/lost.drv', boot: null }],
    ]);
    const failed = [
      { drvPath: shared, message: 'shared fails' },
      { drvPath: app, message: 'app fails' },
    ];
    expect(
      attributeFailures(systems, new Set(['/nix/store/ok-out']), failed, graph, 'nix was killed'),
    ).toEqual({
      failures: new Map([
        ['gw', 'shared fails'],
        ['db', 'shared fails'],
        ['web', 'app fails'],
        ['lost', 'nix was killed'],
      ]),
      built: ['ok'],
    });
  });
});
