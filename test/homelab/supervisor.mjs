// The host side of a simulated homelab: boots every machine (machine-init.sh in fresh mount, UTS
// and PID namespaces), notices when one goes down (its `systemctl reboot`, or a reboot from the
// control API), keeps it down for its boot time and boots it again with a new boot id. Each boot
// is recorded in <machine>/boots.jsonl. Faults are read from <machine>/faults.json at every boot.
//
// Control API: HTTP over the unix socket <state>/control.sock
//   GET /status   POST /reboot/NAME   POST /start/NAME (power on a machine that stayed down)   POST /stop
// Usage: node supervisor.mjs STATE_DIR [--exit-with-stdin]
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';

const state = process.argv[2];
const initScript = join(import.meta.dirname, 'machine-init.sh');
const { machines: specs } = JSON.parse(readFileSync(join(state, 'homelab.json'), 'utf8'));
let stopping = false;

const writeJson = (path, value, lines = false) => {
  const text = lines ? value.map((v) => `${JSON.stringify(v)}\n`).join('') : JSON.stringify(value);
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
};

class Machine {
  /** @type {'booting' | 'up' | 'down' | 'off'} */
  state = 'down';
  child = null;
  bootId = null;
  timer = null;
  boots = [];

  constructor(spec) {
    Object.assign(this, spec);
    this.dir = join(state, 'machines', spec.name);
  }

  get faults() {
    return JSON.parse(readFileSync(join(this.dir, 'faults.json'), 'utf8'));
  }

  boot() {
    clearTimeout(this.timer);
    const faults = this.faults;
    if (faults.hostKeyChanged) {
      const key = join(this.dir, 'ssh_host_ed25519_key');
      rmSync(key, { force: true });
      rmSync(`${key}.pub`, { force: true });
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${this.name}-rekeyed`, '-f', key]);
      writeJson(join(this.dir, 'faults.json'), { ...faults, hostKeyChanged: false });
    }
    const bootId = randomUUID();
    writeFileSync(join(this.dir, 'boot_id'), `${bootId}\n`);
    const log = openSync(join(this.dir, 'console.log'), 'a');
    // --pdeathsig: if the supervisor dies, so do its machines. --kill-child: so does init.
    const child = spawn(
      'setpriv',
      [
        '--pdeathsig',
        'KILL',
        'unshare',
        '--mount',
        '--uts',
        '--pid',
        '--fork',
        '--kill-child',
        '--mount-proc',
      ].concat([initScript, this.dir]),
      { stdio: ['ignore', log, log] },
    );
    this.child = child;
    this.bootId = bootId;
    this.state = 'booting';
    child.on('exit', () => this.onExit(child));
    this.waitForSsh(child);
  }

  async waitForSsh(child) {
    while (this.child === child && !stopping) {
      if (await canConnect(this.address, this.sshPort)) {
        if (this.child !== child) return;
        this.state = 'up';
        this.boots.push({ bootId: this.bootId, upAt: Date.now() });
        this.saveBoots();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  onExit(child) {
    if (this.child !== child) return;
    const last = this.boots.at(-1);
    if (this.state === 'up' && last?.bootId === this.bootId) {
      last.downAt = Date.now();
      this.saveBoots();
    }
    this.child = null;
    this.bootId = null;
    this.state = 'down';
    if (stopping) return;
    const faults = this.faults;
    if (faults.neverComesBack) {
      this.state = 'off';
      return;
    }
    this.timer = setTimeout(() => this.boot(), faults.bootTimeMs ?? this.bootTimeMs);
  }

  saveBoots() {
    writeJson(join(this.dir, 'boots.jsonl'), this.boots, true);
  }

  /**
   * Pulls the plug; resolves when everything in the machine is gone. Kills the namespace's init, not
   * unshare: unshare exits once init is reaped, and the kernel reaps init only after every other
   * process of its PID namespace has died, so the machine's ports are free when this resolves.
   */
  kill() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const init = childrenOf(child.pid)[0];
    if (init === undefined) child.kill('SIGKILL');
    else process.kill(init, 'SIGKILL');
    return exited;
  }
}

function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function canConnect(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const machines = new Map(specs.map((spec) => [spec.name, new Machine(spec)]));

async function stop() {
  if (stopping) return;
  stopping = true;
  for (const machine of machines.values()) clearTimeout(machine.timer);
  await Promise.all([...machines.values()].map((machine) => machine.kill()));
  server.close();
  rmSync(join(state, 'control.sock'), { force: true });
  rmSync(join(state, 'supervisor.pid'), { force: true });
  process.exit(0);
}

const server = http.createServer(async (request, response) => {
  const [, action, name] = request.url.split('/');
  const machine = machines.get(name);
  const reply = (status, body) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };
  if (request.method === 'GET' && action === 'status') {
    const list = [...machines.values()].map(({ name, state, bootId, child }) => ({
      name,
      state,
      bootId,
      pid: child?.pid ?? null,
    }));
    return reply(200, { pid: process.pid, machines: list });
  }
  if (request.method !== 'POST') return reply(405, { error: 'method not allowed' });
  if (action === 'stop') {
    reply(200, { stopping: true });
    response.on('finish', stop);
    return;
  }
  if (!machine) return reply(404, { error: `no machine ${name}` });
  if (action === 'reboot') {
    await machine.kill();
    return reply(200, { state: machine.state });
  }
  if (action === 'start') {
    if (machine.state === 'down' || machine.state === 'off') machine.boot();
    return reply(200, { state: machine.state });
  }
  return reply(404, { error: `unknown action ${action}` });
});

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.argv.includes('--exit-with-stdin')) {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}

rmSync(join(state, 'control.sock'), { force: true });
server.listen(join(state, 'control.sock'), () => {
  writeFileSync(join(state, 'supervisor.pid'), `${process.pid}\n`);
  for (const machine of machines.values()) machine.boot();
});
