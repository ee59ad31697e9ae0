// The services of one simulated machine: HTTP servers with a health path and plain TCP
// listeners, bound to the machine's own address. Runs inside the machine's namespaces.
import { readFileSync, watch } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';

// argv: the machine (name, address, faults) and the services to run: the machine's own list, or
// the services.json of the system generation it boots or activates.
const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const list = JSON.parse(readFileSync(process.argv[3] ?? process.argv[2], 'utf8'));
const services = Array.isArray(list) ? list : list.services;
const healthy = !spec.faults.includes('health-fails');
// A machine whose services are slow to start (its state directory's services-delay, seconds).
let delay = 0;
try {
  delay = Number(readFileSync(join(dirname(process.argv[2]), 'services-delay'), 'utf8')) * 1000;
} catch {
  // not slow
}
setTimeout(listen, delay);

// Services stopped on the running machine (SimMachine.stopService: `systemctl stop` of it), by
// port, in the state directory's stopped-services; a boot starts them all again, as NixOS does.
const state = dirname(process.argv[2]);
const servers = new Map();
function stoppedPorts() {
  try {
    return new Set(JSON.parse(readFileSync(join(state, 'stopped-services'), 'utf8')));
  } catch {
    return new Set();
  }
}
let listening = false;
function applyStopped() {
  if (!listening) return;
  const stopped = stoppedPorts();
  for (const service of services) {
    const server = servers.get(service.port);
    if (stopped.has(service.port) && server) {
      servers.delete(service.port);
      server.close();
      server.closeAllConnections?.();
    } else if (!stopped.has(service.port) && !server) start(service);
  }
}
watch(state, (_event, file) => {
  if (file === 'stopped-services') applyStopped();
});

function listen() {
  listening = true;
  const stopped = stoppedPorts();
  for (const service of services) if (!stopped.has(service.port)) start(service);
}

function start(service) {
  if (service.type === 'http') {
    const server = http
      .createServer((request, response) => {
        if (request.url === (service.path ?? '/health')) {
          response.writeHead(healthy ? (service.status ?? 200) : 500, { 'content-type': 'text/plain' });
          response.end(healthy ? `${spec.name} ok\n` : `${spec.name} unhealthy\n`);
        } else {
          response.writeHead(404);
          response.end();
        }
      })
      .listen(service.port, spec.address);
    servers.set(service.port, server);
  } else if (service.type === 'tcp' && healthy) {
    const server = net
      .createServer((socket) => socket.end(`${spec.name}\n`))
      .listen(service.port, spec.address);
    servers.set(service.port, server);
  }
}
