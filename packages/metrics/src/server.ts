import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AppMetrics } from './registry.ts';

export interface MetricsServer {
  /** host:port it listens on. */
  address: string;
  close(): Promise<void>;
}

/**
 * The metrics listener: GET /metrics on its own host and port (loopback by default), apart from
 * the app's public listener, so that metrics are never served to the internet by accident. Reads
 * no request body; anything but GET /metrics is a 404 or 405.
 */
export async function startMetricsServer(metrics: AppMetrics, host: string, port: number, portSetting: string): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed\n');
      return;
    }
    metrics.render().then(({ contentType, body }) => {
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
    }, () => {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics could not be collected\n');
    });
  });
  // A scraper holds no connection open for long; these bound what a stray client can keep.
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(listenProblem(err, host, port, portSetting))));
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** One sentence naming the settings to change (the app's own port setting would mislead here). */
function listenProblem(err: NodeJS.ErrnoException, host: string, port: number, portSetting: string): string {
  const where = `${host}:${port}`;
  if (err.code === 'EADDRINUSE') return `the metrics listener's address ${where} is already in use: choose another ${portSetting}, or set ${portSetting}=off`;
  if (err.code === 'EACCES') return `no permission to listen on ${where} for metrics: choose a port above 1023 in ${portSetting}`;
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return `${host} is not an address of this machine: check METRICS_HOST`;
  return `the metrics listener could not listen on ${where}: ${err.message}`;
}
