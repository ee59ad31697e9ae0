/**
 * The simulated homelab by hand (needs root):
 *   npm run lab:up      start a four-machine homelab, print how to use it, stop on Ctrl-C
 *   npm run lab:down    stop the homelab started by lab:up (from another terminal)
 *   npm run lab:clean   remove every leftover of crashed test runs and homelabs
 */

import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { http, standardMachines, startTestHomelab } from '../support/homelabs.js';
import { SIM_NIX_CONF, SIM_PREFIX } from './homelab.js';

const pidFile = join(tmpdir(), 'lab-sim-up.pid');
const envFile = join(tmpdir(), 'lab-sim.env');

async function up(): Promise<void> {
  const lab = await startTestHomelab(
    {
      'sleeper-service': {
        role: 'sleeper',
        rebootOrder: 1,
        serves: [http(80)],
        orchestration: { criticalityLevel: 'low' },
      },
      nas: {
        ...standardMachines.nas,
        role: 'storage',
        groups: ['storage'],
        orchestration: { rebootDelay: 2 },
      },
      db: {
        ...standardMachines.db,
        role: 'database',
        checks: [{ type: 'command', command: 'systemctl is-active postgresql' }],
        orchestration: { rebootDelay: 3, criticalityLevel: 'high' },
      },
      web: { ...standardMachines.web, orchestration: { rebootDelay: 1 } },
    },
    { bootTimeMs: 2000 },
  );
  // NIX_USER_CONF_FILES: what nix needs to build the homelab's systems (lab deploy).
  const exports = `export LAB_FLAKE=${lab.flake} LAB_SSH_KEY=${lab.keyPath} LAB_KNOWN_HOSTS=${lab.knownHostsPath} NIX_USER_CONF_FILES=${SIM_NIX_CONF}\n`;
  await writeFile(envFile, exports);
  await writeFile(pidFile, String(process.pid));
  process.stdout.write(
    [
      `Simulated homelab up in ${lab.root}:`,
      ...['sleeper-service', 'nas', 'db', 'web'].map(
        (name) => `  ${name.padEnd(16)} ssh root@${lab.machine(name).address} -p 2222`,
      ),
      '',
      'In another terminal:',
      `  source ${envFile}`,
      '  npx lab machines',
      '  npx lab sequence',
      '  npx lab health',
      '  npx lab reboot --all',
      '',
      'Stop with Ctrl-C here (or npm run lab:down).',
      '',
    ].join('\n'),
  );
  const stop = async () => {
    await lab.stop();
    await rm(pidFile, { force: true });
    await rm(envFile, { force: true });
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

async function down(): Promise<void> {
  const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
  if (!pid) {
    process.stdout.write('No homelab started by lab:up is running.\n');
    return;
  }
  process.kill(pid, 'SIGTERM');
  process.stdout.write(`Stopping the homelab (process ${pid}).\n`);
}

/** Kills every simulated machine (by its state directory prefix) and removes all state. */
async function clean(): Promise<void> {
  const marker = join(tmpdir(), SIM_PREFIX);
  await execa('pkill', ['-KILL', '-f', `unshare .*${marker}`], { reject: false });
  await execa('pkill', ['-KILL', '-f', `machine-init.sh ${marker}`], { reject: false });
  const leftovers = (await readdir(tmpdir())).filter((name) => name.startsWith(SIM_PREFIX));
  await Promise.all(leftovers.map((name) => rm(join(tmpdir(), name), { recursive: true, force: true })));
  await rm(pidFile, { force: true });
  await rm(envFile, { force: true });
  process.stdout.write(
    `Removed ${leftovers.length} homelab state ${leftovers.length === 1 ? 'directory' : 'directories'}.\n`,
  );
}

const commands: Record<string, () => Promise<void>> = { up, down, clean };
const command = commands[process.argv[2] ?? ''];
if (!command) {
  process.stderr.write('usage: tsx test/sim/cli.ts up|down|clean\n');
  process.exit(64);
}
await command();
