import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHomelab } from '../support/homelabs.js';
import { type Homelab, sshArgs } from './homelab.js';

/** The system ssh client, strict about host keys, with the homelab's key. */
function ssh(lab: Homelab, name: string, ...command: string[]) {
  return execa('ssh', [...sshArgs(lab.keyPath, lab.knownHostsPath, lab.machine(name)), ...command], {
    reject: false,
  });
}

let lab: Homelab;

beforeAll(async () => {
  lab = await startTestHomelab({
    alpha: {
      role: 'web',
      rebootOrder: 1,
      services: [
        { type: 'http', port: 80 },
        { type: 'tcp', port: 5432 },
      ],
    },
    beta: { role: 'db', rebootOrder: 2, services: [{ type: 'http', port: 80 }] },
    gamma: { role: 'cache', rebootOrder: 3, services: [{ type: 'tcp', port: 6379 }] },
    delta: { role: 'queue', rebootOrder: 4, services: [{ type: 'tcp', port: 5672 }] },
    epsilon: { role: 'container', rebootOrder: 5, services: [{ type: 'tcp', port: 22000 }], systemd: false },
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
    expect(current).toMatch(/machines\/alpha\/systems\/[0-9a-z]{32}-nixos-system-alpha-sim$/);
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

  it('boots what its boot loader boots by default: switch and boot install it, test and the profile do not', async () => {
    const booted = async () => (await ssh(lab, 'delta', 'readlink /run/booted-system')).stdout;
    const reboot = async () => {
      const boots = lab.bootLog('delta').length;
      await ssh(lab, 'delta', 'systemctl', 'reboot');
      await expect.poll(() => lab.bootLog('delta').length, { timeout: 10_000, interval: 50 }).toBe(boots + 1);
      await lab.machine('delta').whenUp();
    };
    await lab.switchSystem('delta', { newKernel: false });
    const [first, second] = [...lab.profile('delta').generations.values()] as [string, string];
    expect(lab.profile('delta').current).toBe(2);
    expect(lab.bootMenu('delta')).toEqual({
      defaultGeneration: 2,
      defaultSystem: second,
      entries: new Map([
        [1, first],
        [2, second],
      ]),
    });
    // `test` runs a system without installing the boot loader; the profile is not what boots.
    expect((await ssh(lab, 'delta', `${first}/bin/switch-to-configuration test`)).exitCode).toBe(0);
    expect((await ssh(lab, 'delta', 'ln -sfn system-1-link /nix/var/nix/profiles/system')).exitCode).toBe(0);
    expect(lab.bootMenu('delta').defaultSystem).toBe(second);
    await reboot();
    expect(await booted()).toBe(second);
    // `boot` makes its generation the default: the next boot runs it.
    expect((await ssh(lab, 'delta', `${first}/bin/switch-to-configuration boot`)).exitCode).toBe(0);
    expect(lab.bootMenu('delta')).toMatchObject({ defaultGeneration: 1, defaultSystem: first });
    await reboot();
    expect(await booted()).toBe(first);
    // A deleted generation's entry goes at the next installation.
    expect((await ssh(lab, 'delta', 'rm /nix/var/nix/profiles/system-2-link')).exitCode).toBe(0);
    expect((await ssh(lab, 'delta', `${first}/bin/switch-to-configuration switch`)).exitCode).toBe(0);
    expect(lab.bootMenu('delta').entries).toEqual(new Map([[1, first]]));
    expect(lab.activations('delta').map((record) => `${record.event} ${record.action}`)).toEqual([
      'start switch',
      'done switch',
      'start test',
      'done test',
      'start boot',
      'done boot',
      'start switch',
      'done switch',
    ]);
  });

  it('systemd-run runs a unit outside the SSH session, which takes its own processes with it when it ends', async () => {
    const piped = await ssh(
      lab,
      'delta',
      "systemd-run -E LOCALE_ARCHIVE --collect --pipe --quiet --wait --unit=t1 sh -c 'echo out; echo err >&2; exit 3'",
    );
    expect([piped.exitCode, piped.stdout, piped.stderr]).toEqual([3, 'out', 'err']);
    const unit = ssh(
      lab,
      'delta',
      "systemd-run --collect --wait --unit=long sh -c 'sleep 1; touch /run/unit-done'",
    );
    const session = ssh(
      lab,
      'delta',
      "setsid sh -c 'sleep 1; touch /run/session-done' </dev/null >/dev/null 2>&1 & sleep 30",
    );
    const running =
      "pgrep -f '[t]ouch /run/unit-done' >/dev/null && pgrep -f '[t]ouch /run/session-done' >/dev/null";
    await expect
      .poll(async () => (await ssh(lab, 'delta', running)).exitCode, { timeout: 10_000, interval: 20 })
      .toBe(0);
    const refused = await ssh(lab, 'delta', 'systemd-run --wait --unit=long true');
    expect([refused.exitCode, refused.stderr]).toEqual([
      1,
      'Failed to start transient service unit: Unit long.service was already loaded or has a fragment file.',
    ]);
    expect(lab.machine('delta').dropSessions()).toBeGreaterThanOrEqual(2);
    expect((await unit).exitCode).not.toBe(0); // its client went with the session
    await session;
    await expect
      .poll(async () => (await ssh(lab, 'delta', 'ls /run/unit-done')).exitCode, { timeout: 10_000 })
      .toBe(0);
    // The session's detached process went with its scope, before it got to the end.
    expect(
      (await ssh(lab, 'delta', "pgrep -f '[t]ouch /run/session-done' || ls /run/session-done")).exitCode,
    ).not.toBe(0);
    expect(lab.units('delta').map((record) => [record.event, record.unit, record.status])).toEqual([
      ['start', 't1.service', null],
      ['exit', 't1.service', 3],
      ['start', 'long.service', null],
      ['exit', 'long.service', 0],
    ]);
  });

  it('without systemd as PID 1: no /run/systemd/system, systemd-run refuses, detached processes outlive a dropped session', async () => {
    const refused = await ssh(lab, 'epsilon', 'ls /run/systemd/system; systemd-run --wait true');
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(
      "System has not been booted with systemd as init system (PID 1). Can't operate.",
    );
    const session = ssh(
      lab,
      'epsilon',
      "setsid sh -c 'sleep 1; touch /run/session-done' </dev/null >/dev/null 2>&1 & sleep 30",
    );
    await expect
      .poll(async () => (await ssh(lab, 'epsilon', "pgrep -f '[t]ouch /run/session-done'")).exitCode, {
        timeout: 10_000,
        interval: 20,
      })
      .toBe(0);
    expect(lab.machine('epsilon').dropSessions()).toBeGreaterThanOrEqual(1);
    await session;
    await expect
      .poll(async () => (await ssh(lab, 'epsilon', 'ls /run/session-done')).exitCode, { timeout: 10_000 })
      .toBe(0);
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
