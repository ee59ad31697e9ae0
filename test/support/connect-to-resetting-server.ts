/**
 * Run as its own process (node --import tsx): connects many times, 10 at a time, to a server
 * that breaks off every connection as the given mode says, and prints each attempt's outcome as
 * one JSON line. An error that ssh2 emits with no listener would be uncaught and end this
 * process with a non-zero exit code, as it would end a worker. Usage: MODE COUNT
 */

import { SshConnection } from '../../src/transport/ssh/ssh-connection.js';
import { type ResetMode, startResettingServer } from './resetting-server.js';

const mode = process.argv[2] as ResetMode;
const count = Number(process.argv[3] ?? 50);
const server = await startResettingServer(mode);
const target = { machine: 'gone', host: '127.0.0.1', port: server.port, user: 'root' };
const credentials = { knownHosts: [], knownHostsPath: '/nonexistent/known_hosts' };
const outcomes: Record<string, number> = {};
let next = 0;
await Promise.all(
  Array.from({ length: 10 }, async () => {
    while (next < count) {
      next++;
      const outcome = await SshConnection.connect(target, credentials, {
        connectMs: 5_000,
        keepaliveMs: 1_000,
      }).then(
        (connection) => {
          connection.close();
          return 'connected';
        },
        (error: Error) => `${error.constructor.name}: ${error.message}`,
      );
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
  }),
);
// Late errors of the failed clients come within a few ticks; give them time to surface.
await new Promise((resolve) => setTimeout(resolve, 200));
await server.close();
process.stdout.write(`${JSON.stringify(outcomes)}\n`);
