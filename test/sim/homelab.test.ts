import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Homelab, sshArgs, startHomelab } from './homelab.js';

/** The system ssh client, strict about host keys, with the homelab's key. */
function ssh(lab: Homelab, name: string, ...command: string[]) {
  return execa('ssh', [...sshArgs(lab.keyPath, lab.knownHostsPath, lab.machine(name)), ...command], {
    reject: false,
  });
}

let lab: Homelab;

beforeAll(async () => {
  lab = await startHomelab({
    bootTimeMs: 200,
    machines: [
      {
        name: 'alpha',
        lab: { role: 'web', rebootOrder: 1 },
        services: [
          { type: 'http', port: 80 },
          { type: 'tcp', port: 5432 },
        ],
      },
      { name: 'beta', lab: { role: 'db', rebootOrder: 2 }, services: [{ type: 'http', port: 80 }] },
      { name: 'gamma', lab: { role: 'cache', rebootOrder: 3 }, services: [{ type: 'tcp', port: 6379 }] },
    ],
  });
});

afterAll(async () => {
  await lab?.stop();
});

describe('simulated homelab', () => {
  it('gives each machine its own hostname, boot id and /run', async () => {
    const alpha = await ssh(
      lab,
      'alpha',
      'hostname; cat /proc/sys/kernel/random/boot_id; readlink /run/current-system',
    );
    const beta = await ssh(lab, 'beta', 'hostname; cat /proc/sys/kernel/random/boot_id');
    expect(alpha.exitCode).toBe(0);
    const [name, bootId, current] = alpha.stdout.split('\n');
    expect(name).toBe('alpha');
    expect(bootId).toBe(lab.bootLog('alpha')[0]?.bootId);
    expect(current).toMatch(/machines\/alpha\/systems\/system-[\w-]+$/);
    expect(beta.stdout.split('\n')[0]).toBe('beta');
    expect(beta.stdout.split('\n')[1]).not.toBe(bootId);
  });

  it('serves each machine its own health endpoint as localhost', async () => {
    const alpha = await ssh(
      lab,
      'alpha',
      'exec 3<>/dev/tcp/localhost/80; printf "GET /health HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3',
    );
    expect(alpha.stdout).toContain('alpha ok');
    const beta = await ssh(
      lab,
      'beta',
      'exec 3<>/dev/tcp/localhost/80; printf "GET /health HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3',
    );
    expect(beta.stdout).toContain('beta ok');
  });

  it('really reboots on systemctl reboot: down, back with a new boot id, recorded', async () => {
    const before = lab.bootLog('alpha');
    expect(before).toHaveLength(1);
    const reboot = await ssh(lab, 'alpha', 'systemctl', 'reboot');
    expect(reboot.exitCode).toBe(0);
    await expect.poll(() => lab.bootLog('alpha').length, { timeout: 10_000, interval: 50 }).toBe(2);
    const [first, second] = lab.bootLog('alpha');
    expect(first?.downAt).toBeGreaterThan(first?.upAt ?? 0);
    expect((second?.upAt ?? 0) - (first?.downAt ?? 0)).toBeGreaterThanOrEqual(200);
    const after = await ssh(lab, 'alpha', 'cat /proc/sys/kernel/random/boot_id');
    expect(after.stdout.trim()).toBe(second?.bootId);
    expect(second?.bootId).not.toBe(first?.bootId);
    expect(lab.bootLog('beta')).toHaveLength(1);
  });

  it('records every activation; a slow one abandoned by its SSH client dies half-way', async () => {
    const gamma = lab.machine('gamma');
    const system = (await ssh(lab, 'gamma', 'readlink -f /run/current-system')).stdout.trim();
    gamma.setDelays({ activationMs: 600 });
    const started = Date.now();
    expect((await ssh(lab, 'gamma', `${system}/bin/switch-to-configuration`, 'test')).exitCode).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(lab.activations('gamma').map((record) => [record.event, record.action, record.system])).toEqual([
      ['start', 'test', system],
      ['done', 'test', system],
    ]);

    const abandoned = execa(
      'ssh',
      [...sshArgs(lab.keyPath, lab.knownHostsPath, gamma), `${system}/bin/switch-to-configuration`, 'switch'],
      { reject: false },
    );
    await expect.poll(() => lab.activations('gamma').length, { timeout: 10_000, interval: 20 }).toBe(3);
    abandoned.kill('SIGKILL');
    await abandoned;
    // Well past its delay: it died at its next line of progress, without getting to the end.
    await expect
      .poll(async () => (await ssh(lab, 'gamma', 'pgrep -f "[l]ab-sim-activate" || true')).stdout, {
        timeout: 10_000,
      })
      .toBe('');
    expect(lab.activations('gamma').map((record) => record.event)).toEqual(['start', 'done', 'start']);
    gamma.setDelays({ activationMs: 0 });
  });

  it('records reboot requests; a slow shutdown says "stopping"; late services fail health at first', async () => {
    const gamma = lab.machine('gamma');
    const boots = lab.bootLog('gamma').length;
    const bootId = lab.bootLog('gamma').at(-1)?.bootId;
    gamma.setDelays({ shutdownMs: 1000, servicesMs: 800 });
    expect((await ssh(lab, 'gamma', 'systemctl is-system-running')).stdout).toBe('running');
    expect((await ssh(lab, 'gamma', 'systemctl', 'reboot')).exitCode).toBe(0);
    const stopping = await ssh(
      lab,
      'gamma',
      'systemctl is-system-running; cat /proc/sys/kernel/random/boot_id',
    );
    expect(stopping.stdout.split('\n')).toEqual(['stopping', bootId]);
    expect(lab.rebootRequests('gamma')).toEqual([{ command: 'reboot', bootId, at: expect.any(Number) }]);
    await expect.poll(() => lab.bootLog('gamma').length, { timeout: 10_000, interval: 50 }).toBe(boots + 1);
    const [down, up] = lab.bootLog('gamma').slice(-2);
    expect((down?.downAt ?? 0) - (lab.rebootRequests('gamma')[0]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
    const probe =
      'systemctl is-system-running; (exec 3<>/dev/tcp/localhost/6379) 2>/dev/null && echo open || echo closed';
    expect((await ssh(lab, 'gamma', probe)).stdout).toBe('running\nclosed');
    await expect
      .poll(async () => (await ssh(lab, 'gamma', probe)).stdout, { timeout: 10_000, interval: 100 })
      .toBe('running\nopen');
    expect(Date.now() - (up?.upAt ?? 0)).toBeGreaterThanOrEqual(800);
    gamma.setDelays({ shutdownMs: 0, servicesMs: 0 });
  });

  it('injects faults: health fails after boot, host key changes', async () => {
    lab.machine('beta').setFaults(['health-fails', 'host-key-changed']);
    await ssh(lab, 'beta', 'reboot');
    await expect.poll(() => lab.bootLog('beta').length, { timeout: 10_000, interval: 50 }).toBe(2);
    const refused = await ssh(lab, 'beta', 'true');
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  it('injects a slow boot and a machine that never comes back', async () => {
    lab.machine('alpha').setFaults(['slow-boot']);
    await ssh(lab, 'alpha', 'reboot');
    await expect.poll(() => lab.bootLog('alpha').length, { timeout: 10_000, interval: 50 }).toBe(3);
    const [, down, up] = lab.bootLog('alpha');
    expect((up?.upAt ?? 0) - (down?.downAt ?? 0)).toBeGreaterThanOrEqual(2000);

    lab.machine('alpha').setFaults(['never-comes-back']);
    await ssh(lab, 'alpha', 'systemctl', 'reboot');
    await expect
      .poll(() => lab.bootLog('alpha').at(-1)?.downAt ?? null, { timeout: 10_000, interval: 50 })
      .not.toBeNull();
    expect(lab.machine('alpha').isUp).toBe(false);
  });
});
