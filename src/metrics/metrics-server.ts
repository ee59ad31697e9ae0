import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { ConfigurationError } from '../errors.js';
import { withDeadline } from '../util/deadline.js';
import type { LabMetrics } from './lab-metrics.js';
import type { MetricsListen } from './metrics-config.js';

/**
 * How long a scrape may take: below Prometheus' default scrape timeout (10 s), so that a Redis
 * that does not answer gets a 503 naming it, not a scrape that times out without a word (lab's
 * Redis connections wait for Redis to come back rather than fail).
 */
export const SCRAPE_DEADLINE_MS = 5_000;
const LATE = Symbol('late');

/**
 * The Prometheus endpoint: GET /metrics (text format 0.0.4); everything else 404. A scrape that
 * fails is a 500 with the reason; one that Redis does not answer in time, a 503.
 */
export class MetricsServer {
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(
    metrics: LabMetrics,
    listen: MetricsListen,
    log?: Logger,
    deadlineMs = SCRAPE_DEADLINE_MS,
  ): Promise<MetricsServer> {
    const server = createServer((request, response) => {
      if (request.method !== 'GET' || (request.url ?? '').split('?')[0] !== '/metrics') {
        response.writeHead(404, { 'content-type': 'text/plain' });
        response.end('lab: the metrics are at /metrics\n');
        return;
      }
      withDeadline(metrics.render(), deadlineMs, () => LATE).then(
        (text) => {
          if (text === LATE) {
            const seconds = deadlineMs / 1000;
            log?.warn(`metrics: a scrape got no answer from Redis within ${seconds} s`);
            response.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '10' });
            response.end(`lab: Redis did not answer within ${seconds} s; the metrics are read from it\n`);
            return;
          }
          response.writeHead(200, { 'content-type': metrics.registry.contentType });
          response.end(text);
        },
        (error: Error) => {
          log?.warn({ err: error }, `metrics: a scrape failed: ${error.message}`);
          response.writeHead(500, { 'content-type': 'text/plain' });
          response.end(`lab: reading the metrics failed: ${error.message}\n`);
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new ConfigurationError(
            `LAB_METRICS_LISTEN: cannot listen on ${listen.host}:${listen.port}: ${error.code ?? error.message}`,
          ),
        ),
      );
      server.listen(listen.port, listen.host, () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : listen.port;
    const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
    return new MetricsServer(server, `http://${host}:${port}/metrics`);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
