import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** HTTP requests by route pattern (never the raw path), method and status. */
export interface HttpMetrics {
  observe(route: string, method: string, status: number, seconds: number): void;
}

/**
 * One registry per app (created in app.ts, never module state): process metrics (CPU, memory,
 * event loop lag, handles) and HTTP request counts and latency. Each app adds its own metrics to
 * `registry` with the helpers below.
 */
export interface AppMetrics {
  registry: Registry;
  http: HttpMetrics;
  counter<L extends string>(name: string, help: string, labels: readonly L[]): Counter<L>;
  gauge<L extends string>(name: string, help: string, labels: readonly L[], collect?: (g: Gauge<L>) => void): Gauge<L>;
  /** The exposition text (Prometheus text format 0.0.4) and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

// Latency buckets for an API whose answers take from well under a millisecond (metadata, a cached
// token) to a few hundred (argon2, an upstream MCP server).
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createAppMetrics(app: string): AppMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ app });
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by route pattern, method and status code.', labelNames: ['route', 'method', 'status'] as const, registers: [registry] });
  const duration = new Histogram({ name: 'http_request_duration_seconds', help: 'Time to answer an HTTP request, by route pattern and method.', labelNames: ['route', 'method'] as const, buckets: BUCKETS, registers: [registry] });
  return {
    registry,
    http: {
      observe(route, method, status, seconds) {
        requests.inc({ route, method, status: String(status) });
        duration.observe({ route, method }, seconds);
      },
    },
    counter: (name, help, labels) => new Counter({ name, help, labelNames: labels, registers: [registry] }),
    gauge: (name, help, labels, collect) => new Gauge({ name, help, labelNames: labels, registers: [registry], ...(collect ? { collect() { collect(this); } } : {}) }),
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
