import fp from 'fastify-plugin';
import type { HttpMetrics } from '@stack/metrics';

// Methods a route can be registered for; anything else a client invents is counted as OTHER.
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * Counts every answered request by its route pattern (`/federation/:slug/callback`, never the
 * raw path, so a scanner cannot create series), method and status, with its latency. A request
 * no route matched is counted under `(unmatched)`.
 */
export const httpMetrics = fp<{ metrics: HttpMetrics }>(
  async (app, opts) => {
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? '(unmatched)';
      const method = METHODS.has(request.method) ? request.method : 'OTHER';
      opts.metrics.observe(route, method, reply.statusCode, reply.elapsedTime / 1000);
    });
  },
  { name: 'http-metrics' },
);
