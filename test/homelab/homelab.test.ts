import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Homelab, type HomelabMachine, startHomelab } from './homelab.js';

let lab: Homelab;

beforeAll(async () => {
  lab = await startHomelab({
    machines: [
      {
        name: 'alpha',
        services: [
          { type: 'http', port: 80, path: '/health' },
          { type: 'tcp', port: 5432 },
        ],
      },
      { name: 'beta', services: [{ type: 'http', port: 80, path: '/health' }] },
      { name: 'gamma', services: [{ type: 'http', port: 8080, path: '/health' }], bootTimeMs: 200 },
    ],
  });
});

afterAll(async () => {
  await lab?.stop();
});

const machine = (name: string): HomelabMachine => lab.machine(name);

/** The system ssh client, strict about host keys, with the homelab's key and known_hosts. */
function ssh(
  name: string,
  args: string[],
  options: { command?: string; input?: string; knownHosts?: string } = {},
) {
  const { address, port } = machine(name);
  return execa(
    'ssh',
    [
      '-F',
      '/dev/null',
      '-i',
      lab.userKeyPath,
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      `UserKnownHostsFile=${options.knownHosts ?? lab.knownHostsPath}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'ConnectTimeout=5',
      '-p',
      String(port),
      ...args,
      `root@${address}`,
      ...(options.command === undefined ? [] : [options.command]),
    ],
    { input: options.input ?? '', reject: false, timeout: 15_000 },
  );
}

const run = async (name: string, command: string) => {
  const result = await ssh(name, [], { command });
  if (result.exitCode !== 0) throw new Error(`ssh ${name} ${command}: ${result.stderr}`);
  return result.stdout.trim();
};

/** GET the path through the machine's sshd, as `localhost:PORT` resolved inside the machine. */
const getThroughSsh = (name: string, port: number, path = '/health') =>
  ssh(name, ['-W', `localhost:${port}`], { input: `GET ${path} HTTP/1.0\r\n\r\n` });

const statusLine = (response: { stdout: string }) => response.stdout.split('\r\n')[0];

async function rebootFromInside(name: string): Promise<string> {
  const before = await run(name, 'cat /proc/sys/kernel/random/boot_id');
  await run(name, 'systemctl reboot');
  return before;
}

describe('simulated homelab', () => {
  it('runs each machine with its own hostname, boot id and systems, reachable with strict ssh', async () => {
    const hostBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const seen = await Promise.all(
      ['alpha', 'beta', 'gamma'].map(async (name) => {
        const [hostname, bootId, current, booted, profile] = (
          await run(
            name,
            'hostname; cat /proc/sys/kernel/random/boot_id; readlink /run/current-system; readlink /run/booted-system; readlink -f /nix/var/nix/profiles/system',
          )
        ).split('\n');
        expect(hostname).toBe(name);
        expect(bootId).toBe(lab.bootLog(name).at(-1)?.bootId);
        expect(current).toBe(join(machine(name).dir, 'systems', 'system-1'));
        expect(booted).toBe(current);
        expect(profile).toBe(current);
        expect(existsSync(join(current ?? '', 'kernel'))).toBe(true);
        return bootId;
      }),
    );
    expect(new Set([...seen, hostBootId]).size).toBe(4);
  });

  it("forwards localhost:PORT to the machine's own services", async () => {
    const alpha = await getThroughSsh('alpha', 80);
    const beta = await getThroughSsh('beta', 80);
    expect(statusLine(alpha)).toBe('HTTP/1.1 200 OK');
    expect(alpha.stdout).toContain('alpha 200');
    expect(beta.stdout).toContain('beta 200');
    expect((await getThroughSsh('gamma', 8080)).stdout).toContain('gamma 200');
    expect((await getThroughSsh('alpha', 80, '/nope')).stdout).toContain('404');

    expect((await ssh('alpha', ['-W', 'localhost:5432'])).stdout).toBe('alpha');
    const closed = await ssh('beta', ['-W', 'localhost:5432']);
    expect(closed.exitCode).not.toBe(0);
    expect(closed.stderr).toMatch(/Connection refused/);
  });

  it('systemctl reboot takes the machine down and brings it back with a new boot id', async () => {
    const before = await rebootFromInside('alpha');
    const boot = await lab.waitForBoot('alpha', { after: before });
    expect(await run('alpha', 'cat /proc/sys/kernel/random/boot_id')).toBe(boot.bootId);

    const [previous, latest] = lab.bootLog('alpha').slice(-2);
    expect(previous?.bootId).toBe(before);
    expect(previous?.downAt).toBeGreaterThanOrEqual(previous?.upAt ?? 0);
    expect(latest).toEqual(boot);
    // Down for at least its boot time (300 ms).
    expect(boot.upAt - (previous?.downAt ?? 0)).toBeGreaterThanOrEqual(300);
    // Services came back too.
    expect((await getThroughSsh('alpha', 80)).stdout).toContain('alpha 200');
  });

  it('drops SSH sessions when the machine goes down (reboot is systemctl too)', async () => {
    const started = Date.now();
    const session = await ssh('beta', [], { command: 'reboot; sleep 10; echo survived' });
    expect(session.stdout).not.toContain('survived');
    expect(session.exitCode).toBe(255);
    expect(Date.now() - started).toBeLessThan(5_000);
    await lab.waitForBoot('beta', { after: lab.bootLog('beta').at(-1)?.bootId });
  });

  it('boots the profile: booted-system follows a new generation after reboot', async () => {
    const system = await lab.newSystem('gamma', { kernel: 'linux-2' });
    expect(await run('gamma', 'readlink /run/booted-system')).not.toBe(system);
    await lab.waitForBoot('gamma', { after: await rebootFromInside('gamma') });
    expect(
      (await run('gamma', 'readlink /run/current-system; readlink /run/booted-system')).split('\n'),
    ).toEqual([system, system]);
    expect(await run('gamma', 'cat /run/booted-system/kernel')).toBe('linux-2');
  });

  describe('faults', () => {
    it('health fails after boot: HTTP health answers 500, TCP ports stay closed', async () => {
      await lab.setFault('alpha', { healthFails: true });
      await lab.waitForBoot('alpha', { after: await lab.reboot('alpha') });
      expect(statusLine(await getThroughSsh('alpha', 80))).toBe('HTTP/1.1 500 Internal Server Error');
      expect((await ssh('alpha', ['-W', 'localhost:5432'])).exitCode).not.toBe(0);

      await lab.setFault('alpha', { healthFails: false });
      await lab.waitForBoot('alpha', { after: await lab.reboot('alpha') });
      expect(statusLine(await getThroughSsh('alpha', 80))).toBe('HTTP/1.1 200 OK');
    });

    it('boots slowly', async () => {
      await lab.setFault('gamma', { bootTimeMs: 1_500 });
      const before = await rebootFromInside('gamma');
      const boot = await lab.waitForBoot('gamma', { after: before });
      const down = lab.bootLog('gamma').find((record) => record.bootId === before)?.downAt ?? 0;
      expect(boot.upAt - down).toBeGreaterThanOrEqual(1_500);
      await lab.setFault('gamma', { bootTimeMs: undefined });
    });

    it('never comes back after a reboot, until powered on', async () => {
      await lab.setFault('beta', { neverComesBack: true });
      const before = await rebootFromInside('beta');
      await expect.poll(() => lab.state('beta'), { timeout: 5_000 }).toBe('off');
      await new Promise((resolve) => setTimeout(resolve, 500)); // longer than its boot time
      expect(await lab.state('beta')).toBe('off');
      const refused = await ssh('beta', [], { command: 'true' });
      expect(refused.exitCode).toBe(255);
      expect(refused.stderr).toMatch(/Connection refused/);
      expect(lab.bootLog('beta').at(-1)?.downAt).toBeDefined();

      await lab.setFault('beta', { neverComesBack: false });
      await lab.start('beta');
      await lab.waitForBoot('beta', { after: before });
      expect(await run('beta', 'hostname')).toBe('beta');
    });

    it('changes its host key at the next boot, so strict ssh refuses it', async () => {
      await lab.setFault('gamma', { hostKeyChanged: true });
      await lab.waitForBoot('gamma', { after: await lab.reboot('gamma') });
      const refused = await ssh('gamma', [], { command: 'true' });
      expect(refused.exitCode).toBe(255);
      expect(refused.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);

      // With the new key it is the same machine; the fault was one-shot.
      const newKey = readFileSync(join(machine('gamma').dir, 'ssh_host_ed25519_key.pub'), 'utf8').split(' ');
      const knownHosts = join(lab.stateDir, 'known_hosts.gamma');
      await writeFile(knownHosts, `${machine('gamma').address} ${newKey[0]} ${newKey[1]}\n`);
      const accepted = await ssh('gamma', [], { command: 'hostname', knownHosts });
      expect(accepted.stdout.trim()).toBe('gamma');
      expect(JSON.parse(readFileSync(join(machine('gamma').dir, 'faults.json'), 'utf8')).hostKeyChanged).toBe(
        false,
      );
    });
  });

  it('writes a fixture flake describing the machines', () => {
    const machines = JSON.parse(readFileSync(join(lab.flakePath, 'machines.json'), 'utf8'));
    expect(machines.alpha).toMatchObject({
      rebootOrder: 1,
      healthChecks: [
        { type: 'http', url: 'http://localhost:80/health' },
        { type: 'tcp', port: 5432 },
      ],
      ssh: { host: machine('alpha').address, port: 22, user: 'root' },
    });
    expect(readFileSync(join(lab.flakePath, 'flake.nix'), 'utf8')).toContain('builtins.fromJSON');
  });

  it('stops leaving no process, mount or file behind', async () => {
    const { stateDir } = lab;
    await lab.stop();
    expect(existsSync(stateDir)).toBe(false);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(stateDir);
    const leftovers = readdirSync('/proc')
      .filter((pid) => /^\d+$/.test(pid))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(stateDir);
        } catch {
          return false;
        }
      });
    expect(leftovers).toEqual([]);
  });
});
