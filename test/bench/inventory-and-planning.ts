/**
 * Benchmarks (not tests): metadata evaluation, lab's single batched `nix eval` against one nix
 * process per host (the seed's sketch), cold and with lab's cache warm; and planning 1,000
 * machines. Run with `npm run bench`; numbers go to BENCHMARKS.md.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { FileInventoryCache } from '../../src/domain/inventory/inventory-cache.js';
import { loadInventory } from '../../src/domain/inventory/load-inventory.js';
import { planSequence } from '../../src/domain/planner/plan.js';
import type { NixSettings } from '../../src/transport/process/nix.js';
import { inventoryOf, machine } from '../support/machines.js';

const nix: NixSettings = { bin: 'nix', options: { substituters: '' } };
const quick = process.argv.includes('--quick');

/** A flake of N hosts, each costing a module-system-like evaluation (a fold over option merges). */
async function fixtureFlake(hosts: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lab-bench-'));
  await writeFile(
    join(dir, 'flake.nix'),
    `{
  outputs = { self }:
    let
      # Stand-in for nixpkgs and the module declarations every host shares: built once per nix process.
      shared = builtins.foldl' (acc: n: acc // { "decl\${toString (builtins.bitAnd n 1023)}" = n; }) { } (builtins.genList (x: x) 60000);
      # Stand-in for one host's module-system evaluation: merge a few thousand option definitions.
      evalHost = name: i:
        let
          merged = builtins.foldl' (acc: n: acc // { "opt\${toString (builtins.bitAnd n 255)}" = n; }) { } (builtins.genList (x: x + i) 4000);
        in {
          config = {
            networking.hostName = name;
            lab.machine = {
              role = "r\${toString (builtins.length (builtins.attrNames merged) + builtins.length (builtins.attrNames shared))}";
              rebootOrder = builtins.bitAnd i 3;
              healthChecks = [ { type = "tcp"; port = 22; } ];
            };
          };
        };
    in {
      nixosConfigurations = builtins.listToAttrs (builtins.genList (i: { name = "host\${toString i}"; value = evalHost "host\${toString i}" i; }) ${hosts});
    };
}
`,
  );
  return dir;
}

async function time<T>(task: () => Promise<T>): Promise<number> {
  const started = performance.now();
  await task();
  return performance.now() - started;
}

/** The seed's approach: one nix process per host, one after another. */
async function perHost(flake: string, hosts: number): Promise<void> {
  const base = ['--extra-experimental-features', 'nix-command flakes', '--option', 'substituters', ''];
  for (let i = 0; i < hosts; i++) {
    await execa('nix', [
      ...base,
      'eval',
      '--json',
      `${flake}#nixosConfigurations.host${i}.config.lab.machine`,
    ]);
  }
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const ms = (value: number) => `${value.toFixed(0)} ms`;

async function main(): Promise<void> {
  const { stdout: nixVersion } = await execa('nix', ['--version']);
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ${nixVersion}`,
  );
  console.log('\n1. metadata evaluation (median of runs; cold = nix eval cache and lab cache empty)');
  console.log('hosts | lab batched (cold) | per-host processes (cold) | ratio | lab, cache warm');
  for (const hosts of quick ? [1, 10] : [1, 10, 50]) {
    const runs = quick ? 1 : 3;
    const batched: number[] = [];
    const separate: number[] = [];
    const warm: number[] = [];
    for (let run = 0; run < runs; run++) {
      // A fresh flake each run: nothing cached by nix or by lab.
      const a = await fixtureFlake(hosts);
      const b = await fixtureFlake(hosts);
      const cacheDir = await mkdtemp(join(tmpdir(), 'lab-bench-cache-'));
      const cache = new FileInventoryCache(cacheDir);
      batched.push(await time(() => loadInventory({ flake: a, nix, cache })));
      warm.push(await time(() => loadInventory({ flake: a, nix, cache })));
      separate.push(await time(() => perHost(b, hosts)));
      await Promise.all([a, b, cacheDir].map((dir) => rm(dir, { recursive: true, force: true })));
    }
    const ratio = median(separate) / median(batched);
    console.log(
      `${hosts} | ${ms(median(batched))} | ${ms(median(separate))} | ${ratio.toFixed(1)}× | ${ms(median(warm))}`,
    );
  }

  console.log('\n2. planning 1,000 synthetic machines (10 stages, chains and cross-links, --parallel 4)');
  const machines = Array.from({ length: 1000 }, (_, i) => {
    const name = `m${String(i).padStart(4, '0')}`;
    const dependencies = [
      ...(i % 10 !== 0 ? [`m${String(i - 1).padStart(4, '0')}`] : []),
      ...(i >= 100 ? [`m${String(i - 100).padStart(4, '0')}`] : []),
    ];
    return machine(name, { rebootOrder: Math.floor(i / 100), dependencies, groups: [`g${i % 7}`] });
  });
  const inventory = inventoryOf(machines);
  const samples = Array.from({ length: quick ? 3 : 20 }, () => {
    const started = performance.now();
    planSequence(inventory, { parallel: 4 });
    return performance.now() - started;
  });
  console.log(
    `median ${median(samples).toFixed(1)} ms, max ${Math.max(...samples).toFixed(1)} ms (target ≤ 50 ms)`,
  );
}

await main();
