import { ConfigurationError } from '../errors.js';

/** Where the Prometheus endpoint listens (LAB_METRICS_LISTEN); null: off (the default). */
export interface MetricsListen {
  readonly host: string;
  readonly port: number;
}

/**
 * `127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464`: host and port; unset or empty: no endpoint.
 * Anything else is refused naming the variable.
 */
export function metricsListen(env: NodeJS.ProcessEnv = process.env): MetricsListen | null {
  const value = env.LAB_METRICS_LISTEN?.trim();
  if (!value) return null;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || !(port >= 1 && port <= 65535))
    throw new ConfigurationError(
      `invalid environment: LAB_METRICS_LISTEN: '${value}' must be host:port, e.g. 127.0.0.1:9464 or [::1]:9464`,
    );
  return { host: (match[1] ?? match[2]) as string, port };
}
