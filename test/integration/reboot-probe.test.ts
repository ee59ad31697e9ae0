import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebootTimeoutError } from '../../src/domain/reboot/errors.js';
import { SshRebootHost } from '../../src/domain/reboot/ssh-reboot-host.js';
import { parseKnownHosts } from '../../src/transport/ssh/known-hosts.js';
import { loadSshCredentials } from '../../src/transport/ssh/ssh-credentials.js';
import type { Homelab } from '../sim/homelab.js';
import { startTestHomelab } from '../support/homelabs.js';
import { machine } from '../support/machines.js';
import { type SlowBannerProxy, startSlowBannerProxy } from '../support/slow-banner-proxy.js';
import { type StalledAcceptProxy, startStalledAcceptProxy } from '../support/stalled-accept-proxy.js';

/** Longer than the 3 s the reboot poll used to give an SSH handshake, well within the 10 s it gets now. */
const BANNER_DELAY_MS = 4_000;

let lab: Homelab;
let proxy: SlowBannerProxy;
let host: SshRebootHost;
let slow: ReturnType<typeof machine>;

beforeAll(async () => {
  lab = await startTestHomelab({ slow: { role: 'r', rebootOrder: 1 } });
  const sim = lab.machine('slow');
  proxy = await startSlowBannerProxy({ host: sim.address, port: sim.sshPort }, BANNER_DELAY_MS);
  const credentials = await loadSshCredentials({}, { ...lab.env, HOME: lab.root });
  const [type, key] = (await readFile(`${sim.dir}/ssh_host_ed25519_key.pub`, 'utf8')).split(' ');
  host = new SshRebootHost({
    ...credentials,
    knownHosts: parseKnownHosts(`[127.0.0.1]:${proxy.port} ${type} ${key}\n`),
  });
  slow = machine('slow', { ssh: { host: '127.0.0.1', port: proxy.port, user: 'root' } });
});

afterAll(async () => {
  await host?.close();
  await proxy?.close();
  await lab?.stop();
});

describe('waiting for a reboot of a machine whose sshd answers slowly', () => {
  it('never reports it down while it answers, however slowly, with its old boot', async () => {
    const before = await host.bootId(slow);
    let downs = 0;
    const error = await host
      .waitForNewBoot(slow, before, { deadline: Date.now() + 2.5 * BANNER_DELAY_MS, onDown: () => downs++ })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RebootTimeoutError);
    expect((error as RebootTimeoutError).lastSeen).toBe('old boot');
    expect(downs).toBe(0);
    expect(lab.bootLog('slow')).toHaveLength(1);
  });

  it('sees it go down only once it really did, and finds its new boot', async () => {
    const shutdownMs = 1.5 * BANNER_DELAY_MS;
    lab.machine('slow').setDelays({ shutdownMs });
    try {
      const before = await host.bootId(slow);
      await host.sendReboot(slow, ['systemctl', 'reboot'], before);
      const downAt: number[] = [];
      const back = await host.waitForNewBoot(slow, before, {
        deadline: Date.now() + 60_000,
        onDown: () => downAt.push(Date.now()),
      });
      const request = lab.machine('slow').rebootRequests().at(-1);
      const boots = lab.bootLog('slow');
      expect(boots).toHaveLength(2);
      expect(back.bootId).toBe(boots[1]?.bootId);
      expect(request?.bootId).toBe(before);
      // The machine went down no earlier than its shutdown delay after the reboot command.
      expect(downAt).toHaveLength(1);
      expect(downAt[0]).toBeGreaterThanOrEqual((request?.at ?? 0) + shutdownMs);
    } finally {
      lab.machine('slow').setDelays({ shutdownMs: 0 });
    }
  });
});

describe('waiting for a reboot of a machine that for a while accepts no connection (a full accept queue)', () => {
  let stalled: StalledAcceptProxy;
  let stalling: SshRebootHost;
  let target: ReturnType<typeof machine>;

  beforeAll(async () => {
    const sim = lab.machine('slow');
    stalled = await startStalledAcceptProxy({ host: sim.address, port: sim.sshPort });
    const credentials = await loadSshCredentials({}, { ...lab.env, HOME: lab.root });
    const [type, key] = (await readFile(`${sim.dir}/ssh_host_ed25519_key.pub`, 'utf8')).split(' ');
    stalling = new SshRebootHost({
      ...credentials,
      knownHosts: parseKnownHosts(`[127.0.0.1]:${stalled.port} ${type} ${key}\n`),
    });
    target = machine('slow', { ssh: { host: '127.0.0.1', port: stalled.port, user: 'root' } });
  });

  afterAll(async () => {
    await stalling?.close();
    await stalled?.close();
  });

  it('does not call it down, nor say SSH never answered, when TCP connects go unanswered for 3 s at a time', async () => {
    const before = await stalling.bootId(target);
    let downs = 0;
    const waiting = stalling
      .waitForNewBoot(target, before, { deadline: Date.now() + 9_000, onDown: () => downs++ })
      .catch((e: unknown) => e);
    let done = false;
    void waiting.then(() => {
      done = true;
    });
    // Stalled 3 s, accepting 1 s, until the wait ends (each stall longer than a TCP attempt's 1 s).
    while (!done) {
      await stalled.stall();
      await Promise.race([new Promise((resolve) => setTimeout(resolve, 3_000)), waiting]);
      stalled.resume();
      await Promise.race([new Promise((resolve) => setTimeout(resolve, 1_000)), waiting]);
    }
    const error = await waiting;
    expect(error).toBeInstanceOf(RebootTimeoutError);
    expect((error as RebootTimeoutError).lastSeen).not.toBe('down');
    expect((error as RebootTimeoutError).message).not.toContain('SSH never answered again');
    expect(downs).toBe(0);
  });

  it('calls it down once nothing has answered for the full connect timeout, down since the silence began', async () => {
    const before = await stalling.bootId(target);
    const downAt: number[] = [];
    await stalled.stall();
    const silentFrom = Date.now();
    try {
      const error = await stalling
        .waitForNewBoot(target, before, {
          deadline: Date.now() + 13_000,
          onDown: () => downAt.push(Date.now()),
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RebootTimeoutError);
      expect((error as RebootTimeoutError).lastSeen).toBe('down');
      expect(downAt).toHaveLength(1);
      expect(downAt[0]).toBeGreaterThanOrEqual(silentFrom + 10_000);
    } finally {
      stalled.resume();
    }
  });
});
