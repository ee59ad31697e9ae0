// The services of one simulated machine, run inside its namespaces: HTTP servers whose health path
// answers 200 and plain TCP listeners, bound to the machine's own address (its "localhost").
// With the health-fails fault, HTTP health answers 500 and TCP ports stay closed.
// Usage: node services.mjs MACHINE_DIR
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';

const dir = process.argv[2];
const { name, address, services } = JSON.parse(readFileSync(join(dir, 'machine.json'), 'utf8'));
const faults = JSON.parse(readFileSync(join(dir, 'faults.json'), 'utf8'));
const healthy = !faults.healthFails;

for (const service of services) {
  if (service.type === 'http') {
    const server = http.createServer((request, response) => {
      const ok = request.url === (service.path ?? '/health');
      const status = ok ? (healthy ? 200 : 500) : 404;
      response.writeHead(status, { 'content-type': 'text/plain' });
      response.end(`${name} ${status}\n`);
    });
    server.listen(service.port, address);
  } else if (service.type === 'tcp' && healthy) {
    net.createServer((socket) => socket.end(`${name}\n`)).listen(service.port, address);
  }
}
