import http from 'node:http';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { describeExit } from '../../transport/ssh/errors.js';
import { commandLine } from '../../transport/ssh/shell.js';
import type { SshConnection } from '../../transport/ssh/ssh-connection.js';
import type { HealthCheck } from '../inventory/schema.js';
import { type CheckResult, checkName } from './check-result.js';

/**
 * Runs one check from the machine's own point of view: http and tcp open their connection
 * through the SSH session (direct-tcpip), so `localhost` is the machine; command runs over SSH.
 * Never throws: a failure is a result with its reason.
 */
export async function runCheck(connection: SshConnection, check: HealthCheck): Promise<CheckResult> {
  const started = performance.now();
  // A command check is bounded by `timeout` on the machine itself (which reports it precisely);
  // the local limit is only a backstop for a machine that stops answering.
  const timeoutMs = check.timeout * 1000 + (check.type === 'command' ? 3000 : 0);
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve(`no answer within ${check.timeout} s`);
    }, timeoutMs);
  });
  let error: string | null;
  try {
    error = await Promise.race([probe(connection, check, controller.signal), timeout]);
  } catch (failure) {
    error = (failure as Error).message;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return {
    name: checkName(check),
    type: check.type,
    ok: error === null,
    latencyMs: Math.round(performance.now() - started),
    error,
  };
}

/** Resolves null when the check passes, or the reason it failed. */
function probe(connection: SshConnection, check: HealthCheck, signal: AbortSignal): Promise<string | null> {
  switch (check.type) {
    case 'tcp':
      return probeTcp(connection, check.port as number, signal);
    case 'http':
      return probeHttp(connection, check.url as string, check.expectStatus, signal);
    case 'command':
      return probeCommand(connection, check.command as string, check.timeout);
  }
}

async function probeTcp(
  connection: SshConnection,
  port: number,
  signal: AbortSignal,
): Promise<string | null> {
  const stream = await connection.forward('localhost', port);
  stream.destroy();
  return signal.aborted ? 'aborted' : null;
}

async function probeHttp(
  connection: SshConnection,
  url: string,
  expectStatus: number | null,
  signal: AbortSignal,
): Promise<string | null> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = target.port ? Number(target.port) : secure ? 443 : 80;
  const channel = await connection.forward(host, port);
  signal.addEventListener('abort', () => channel.destroy(), { once: true });
  // A health endpoint on the machine itself usually has a self-signed or no certificate.
  const socket: Duplex = secure
    ? tls.connect({
        socket: channel,
        servername: /^[\d.:]+$/.test(host) ? undefined : host,
        rejectUnauthorized: false,
      })
    : channel;
  const status = await new Promise<number>((resolve, reject) => {
    const request = http.request(
      {
        method: 'GET',
        path: `${target.pathname}${target.search}`,
        headers: { host: target.host, connection: 'close', 'user-agent': 'lab-health-check' },
        createConnection: () => socket as never,
        signal,
      },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    request.on('error', reject);
    request.end();
  }).finally(() => socket.destroy());
  const passed = expectStatus === null ? status >= 200 && status < 300 : status === expectStatus;
  if (passed) return null;
  return `HTTP ${status}, expected ${expectStatus ?? '2xx'}`;
}

async function probeCommand(
  connection: SshConnection,
  command: string,
  timeoutSeconds: number,
): Promise<string | null> {
  // The check's command is a shell command by definition; it is quoted as one argument of sh -c,
  // under the machine's own timeout so that nothing is left running there.
  const line = commandLine('timeout', `${timeoutSeconds}`, 'sh', '-c', command);
  const result = await connection.exec(line, {
    allowFailure: true,
    timeoutMs: timeoutSeconds * 1000 + 2000,
  });
  if (result.exitCode === 0) return null;
  if (result.exitCode === 124) return `did not finish within ${timeoutSeconds} s`;
  return describeExit(result);
}
