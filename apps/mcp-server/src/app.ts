import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import type { McpConfig } from './config.ts';
import type { McpAppContext } from './context.ts';
import { createRuntime, type BuildDeps } from './runtime.ts';
import { errorHandler, httpMetrics, logSerializers, securityHeaders } from '@stack/fastify-kit';
import { mcpErrorResponses } from './http/error-responses.ts';
import { crossOriginRoutes } from './http/cors.ts';
import { healthRoutes } from './routes/health.ts';
import { metadataRoutes, resourceMetadataUrl } from './routes/metadata.ts';
import { mcpRoutes } from './routes/mcp.ts';
import { createInFlight } from './http/in-flight.ts';
import { createMcpHttpServer } from './mcp-server-factory.ts';
import type { Endpoint } from './endpoint.ts';
import { gatewayEndpoints } from './gateway/endpoints.ts';
import type { GatewayEndpoint } from './gateway/upstream-endpoint.ts';
import { createStackReload } from './stack-reload.ts';

export type { BuildDeps } from './runtime.ts';
export type { McpConfig } from './config.ts';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

function httpsOptions(config: McpConfig) {
  if (!config.tls) return undefined;
  return {
    cert: readFileSync(config.tls.cert),
    key: readFileSync(config.tls.key),
    ...(config.tls.ca ? { ca: readFileSync(config.tls.ca) } : {}),
    // mtls: ask for a client certificate but finish the handshake without one, so /health and the
    // 401 answer still work; authenticate() accepts only chains verified against our CA.
    ...(config.authMode === 'mtls' ? { requestCert: true, rejectUnauthorized: false } : {}),
    minVersion: 'TLSv1.2' as const,
  };
}

/** Builds the MCP server as a Fastify instance. Never reads process.env and never listens. */
export async function buildApp(config: McpConfig, deps: BuildDeps = {}): Promise<FastifyInstance> {
  // Second guard behind config validation: no authentication only on loopback with explicit consent.
  if (config.authMode === 'none' && (!config.insecureNoAuth || !LOOPBACK.has(config.host) || config.env === 'production')) {
    throw new Error("auth mode 'none' requires a loopback host and the --insecure flag, outside production");
  }
  const https = httpsOptions(config);
  const app = Fastify({
    logger: deps.logger ?? { level: config.logLevel, serializers: logSerializers, redact: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie'] },
    bodyLimit: config.bodyLimit,
    genReqId: () => randomUUID(),
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 200 },
    ...(https ? { https } : {}),
  }) as unknown as FastifyInstance;

  const runtime = await createRuntime(config, deps, { error: (m) => app.log.error(m), info: (m) => app.log.info(m), warn: (m) => app.log.warn(m) });
  const onProtocolError = (err: Error) => app.log.warn({ err }, 'mcp protocol error');
  const http = createMcpHttpServer(runtime.newServer, onProtocolError);
  const builtin: Endpoint = {
    name: 'database',
    path: config.mcpPath,
    resourceUrl: config.publicUrl,
    resourceMetadataUrl: resourceMetadataUrl(config.publicUrl),
    title: 'MCP database tools',
    authenticator: runtime.authenticator,
    gate: runtime.gate,
    policy: () => runtime.policy.current(),
    http,
  };
  let gateway: GatewayEndpoint[];
  try {
    gateway = await gatewayEndpoints(config, runtime, deps.environment ?? {}, onProtocolError);
  } catch (err) {
    await runtime.close();
    throw err;
  }
  const ctx: McpAppContext = Object.assign(runtime, {
    resourceMetadataUrl: builtin.resourceMetadataUrl,
    inFlight: createInFlight(deps.inFlightLimits),
    http,
    endpoints: [builtin, ...gateway],
    reload: createStackReload(runtime, gateway),
  });
  app.decorate('mcp', ctx);
  app.decorateRequest('identity', null);
  app.decorateRequest('approvedCall', null);
  app.decorateRequest('mcpEra', null);
  app.addHook('onReady', async () => runtime.start());
  app.addHook('onClose', async () => {
    await ctx.http.close();
    for (const g of gateway) {
      await g.http.close();
      await g.close();
    }
    await runtime.close();
  });

  // With tracing on, first: the plugin must see every route as it is added. Loaded only then.
  if (deps.tracing) {
    const { fastifyTracing } = await import('@stack/telemetry/fastify');
    await app.register(fastifyTracing(deps.tracing.tracerProvider));
  }
  await app.register(httpMetrics, { metrics: runtime.metrics.app.http });
  await app.register(errorHandler, mcpErrorResponses);
  // Set before the routes run, so that every answer carries them, the SDK's included.
  await app.register(securityHeaders, { hook: 'onRequest', hsts: config.publicUrl.startsWith('https://'), sameOriginResources: true });
  // Before any route: it reads each route's config.crossOrigin as the route is added.
  crossOriginRoutes(app);
  await app.register(healthRoutes);
  // Protected resource metadata names an authorization server: only servers taking access tokens have it.
  await app.register(metadataRoutes);
  await app.register(mcpRoutes);
  return app;
}
