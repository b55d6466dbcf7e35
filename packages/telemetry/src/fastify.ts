import type { FastifyPluginAsync } from 'fastify';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import type { TracerProvider } from '@opentelemetry/api';

/**
 * The request span of every Fastify route, from the official @fastify/otel plugin registered as
 * a plugin (the apps are ESM: instrumentation that patches `require` would need loader hooks,
 * and this needs none). It would continue a caller's traceparent, but the SDK's propagator takes
 * none (sdk.ts): each request starts its own trace. Its `url.path` is the request's
 * path without the query string (which carries codes, state and tokens on OAuth routes).
 * preHandler hooks get spans of their own: they run after the body is read, outside the request's
 * context, and the plugin's hook span is what puts them (and the apps' spans inside them, such as
 * the MCP policy decision) back into the request's trace. Other hooks run in the request's
 * context already and get none.
 */
export function fastifyTracing(provider: TracerProvider): FastifyPluginAsync {
  const instrumentation = new FastifyOtelInstrumentation({
    instrumentHooks: ['preHandler'],
    recordExceptions: false,
    requestHook: (span, request) => {
      const q = request.url.indexOf('?');
      if (q !== -1) span.setAttribute('url.path', request.url.slice(0, q));
    },
  });
  instrumentation.setTracerProvider(provider);
  return instrumentation.plugin() as unknown as FastifyPluginAsync;
}
