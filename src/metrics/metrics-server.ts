import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { ConfigurationError } from '../errors.js';
import type { LabMetrics } from './lab-metrics.js';
import type { MetricsListen } from './metrics-config.js';

/** The Prometheus endpoint: GET /metrics (text format 0.0.4); everything else 404. */
export class MetricsServer {
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(metrics: LabMetrics, listen: MetricsListen, log?: Logger): Promise<MetricsServer> {
    const server = createServer((request, response) => {
      if (request.method !== 'GET' || (request.url ?? '').split('?')[0] !== '/metrics') {
        response.writeHead(404, { 'content-type': 'text/plain' });
        response.end('lab: the metrics are at /metrics\n');
        return;
      }
      metrics.render().then(
        (text) => {
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
