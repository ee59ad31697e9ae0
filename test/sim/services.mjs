// The services of one simulated machine: HTTP servers with a health path and plain TCP
// listeners, bound to the machine's own address. Runs inside the machine's namespaces.
import { readFileSync } from 'node:fs';
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

function listen() {
  for (const service of services) {
    if (service.type === 'http') {
      http
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
    } else if (service.type === 'tcp' && healthy) {
      net.createServer((socket) => socket.end(`${spec.name}\n`)).listen(service.port, spec.address);
    }
  }
}
