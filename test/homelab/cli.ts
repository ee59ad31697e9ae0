/**
 * The simulated homelab by hand (needs root); run through scripts/homelab:
 *   up       start four machines in the background and print how to use them
 *   status   show each machine's state
 *   down     stop them and remove their state
 */
import { existsSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  attachHomelab,
  type Homelab,
  type MachineSpec,
  STATE_PREFIX,
  startHomelab,
  supervisorAlive,
} from './homelab.js';

const stateDir = process.env.LAB_HOMELAB_STATE ?? join(tmpdir(), `${STATE_PREFIX}manual`);

const MACHINES: MachineSpec[] = [
  {
    name: 'nas',
    services: [{ type: 'tcp', port: 2049 }],
    lab: { role: 'storage', groups: ['storage'], rebootOrder: 1 },
  },
  {
    name: 'db',
    services: [{ type: 'tcp', port: 5432 }],
    lab: { role: 'database', rebootOrder: 2, orchestration: { criticalityLevel: 'high' } },
  },
  {
    name: 'web',
    services: [{ type: 'http', port: 80, path: '/health' }],
    lab: { role: 'web', groups: ['frontend'], rebootOrder: 3 },
  },
  {
    name: 'monitor',
    services: [
      { type: 'http', port: 9090, path: '/health' },
      { type: 'tcp', port: 9100 },
    ],
    lab: { role: 'monitoring', rebootOrder: 3, orchestration: { criticalityLevel: 'low' } },
  },
];

function supervisorRuns(): boolean {
  const pidFile = join(stateDir, 'supervisor.pid');
  if (!existsSync(pidFile)) return false;
  return supervisorAlive(Number(readFileSync(pidFile, 'utf8')));
}

async function up(): Promise<void> {
  if (supervisorRuns()) {
    console.log(`A homelab already runs on ${stateDir}.`);
    return usage(await attachHomelab(stateDir));
  }
  if (existsSync(stateDir)) {
    console.log(`Removing the state of a homelab that no longer runs: ${stateDir}`);
    await (await attachHomelab(stateDir).catch(() => undefined))?.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
  const lab = await startHomelab({
    machines: MACHINES.map((machine) => ({ ...machine, bootTimeMs: 2000 })),
    stateDir,
    subnet: process.env.LAB_HOMELAB_SUBNET ?? '127.0.10',
    detached: true,
  });
  await writeFile(
    join(stateDir, 'env'),
    `export LAB_FLAKE=${lab.flakePath} LAB_SSH_KEY=${lab.userKeyPath} LAB_KNOWN_HOSTS=${lab.knownHostsPath}\n`,
  );
  usage(lab);
}

function usage(lab: Homelab): void {
  const ssh = `ssh -i ${lab.userKeyPath} -o UserKnownHostsFile=${lab.knownHostsPath} -o StrictHostKeyChecking=yes`;
  console.log(`Simulated homelab up (state: ${lab.stateDir}):
${lab.machines.map((m) => `  ${m.name.padEnd(10)} root@${m.address}:${m.port}`).join('\n')}

  source ${join(lab.stateDir, 'env')}   # LAB_FLAKE=${lab.flakePath} LAB_SSH_KEY LAB_KNOWN_HOSTS
  npx lab machines && npx lab health && npx lab reboot --all
  ${ssh} root@${lab.machines[0]?.address} 'hostname; cat /proc/sys/kernel/random/boot_id; systemctl reboot'
  ${ssh} -W localhost:80 root@${lab.machines.find((m) => m.name === 'web')?.address ?? lab.machines[0]?.address}

Boots: ${join(lab.stateDir, 'machines', '<name>', 'boots.jsonl')}; faults: .../faults.json (next boot).
Stop: npm run lab:down (or scripts/homelab down); after a crash: npm run lab:clean.`);
}

async function status(): Promise<void> {
  if (!supervisorRuns()) return console.log(`No homelab runs on ${stateDir}.`);
  const lab = await attachHomelab(stateDir);
  for (const machine of lab.machines) {
    const boots = lab.bootLog(machine.name);
    console.log(
      `${machine.name.padEnd(10)} ${machine.address.padEnd(14)} ${(await lab.state(machine.name)).padEnd(8)} boots: ${boots.length}`,
    );
  }
}

async function down(): Promise<void> {
  if (!existsSync(join(stateDir, 'homelab.json'))) return console.log(`No homelab on ${stateDir}.`);
  await (await attachHomelab(stateDir)).stop();
  console.log(`Stopped the homelab on ${stateDir}.`);
}

const commands: Record<string, () => Promise<void>> = { up, status, down };
const command = commands[process.argv[2] ?? ''];
if (!command) {
  console.error('usage: cli.ts up|status|down');
  process.exit(2);
}
await command();
