import { z } from 'zod';

/**
 * The metrics listener's settings. METRICS_HOST is shared; each app has its own port setting
 * (AUTH_METRICS_PORT, MCP_METRICS_PORT) because `npm start` runs both with one environment.
 * 'off' disables the listener; 0 picks a free port (printed at start).
 */
export const metricsHost = () => z.string().min(1).default('127.0.0.1');
export const metricsPort = (defaultPort: number) => z.union([z.literal('off'), z.coerce.number().int().min(0).max(65535)]).default(defaultPort);

/** Where the metrics listener listens, or undefined when it is off. */
export function metricsListen(host: string, port: number | 'off'): { host: string; port: number } | undefined {
  return port === 'off' ? undefined : { host, port };
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** A metrics listener on a non-loopback address is served to whoever reaches that address: say so at start. */
export function metricsWarning(listen: { host: string } | undefined, portSetting: string): string | undefined {
  if (!listen || LOOPBACK.has(listen.host) || listen.host.startsWith('127.')) return undefined;
  return `METRICS_HOST=${listen.host}: /metrics (on ${portSetting}) is served without authentication to every client that reaches this address; keep it off the internet (firewall or a private network).`;
}
