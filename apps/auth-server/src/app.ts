import Fastify, { type FastifyInstance } from 'fastify';
import formbody from '@fastify/formbody';
import { openAuthDb } from '@stack/db';
import { AuditLog, type AuditSink } from '@stack/audit';
import type { AuthConfig } from './config.ts';
import type { AppContext } from './context.ts';
import { resolveKeks } from './services/kek.ts';
import { createKeyStore } from './services/keys.ts';
import { errorHandler } from './plugins/error-handler.ts';
import { securityHeaders } from './plugins/security-headers.ts';
import { metadataRoutes } from './routes/metadata.ts';
import { jwksRoutes } from './routes/jwks.ts';
import { healthRoutes } from './routes/health.ts';
// ROUTE-IMPORTS (keep one import per endpoint file, alphabetical below this line)

export interface BuildOptions {
  /** Audit sink; defaults to the hash-chained file (and stdout) from config. */
  audit?: AuditSink;
  /** Clock in ms; tests move it to check expiry. */
  now?: () => number;
  /** Fastify logger option; defaults to config.logLevel. */
  logger?: boolean | object;
}

/** Builds the authorization server as a Fastify instance. Never reads process.env and never listens. */
export async function buildApp(config: AuthConfig, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? { level: config.logLevel, redact: ['req.headers.authorization', 'req.headers.cookie'] },
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    // Strings longer than this in the URL are refused before routing.
    maxParamLength: 200,
    routerOptions: { ignoreTrailingSlash: false },
  });

  const now = opts.now ?? Date.now;
  const db = openAuthDb(config.databasePath);
  const keks = resolveKeks(config);
  const ctx: AppContext = {
    config,
    db,
    now,
    keks,
    audit: opts.audit ?? new AuditLog({ file: config.auditLog, stream: config.auditStdout ? process.stdout : undefined }),
    keys: createKeyStore(db, keks, now, config.accessTokenTtl),
  };
  // Keys are generated on first start, so the JWKS is never empty.
  await ctx.keys.active();
  app.decorate('ctx', ctx);
  app.addHook('onClose', async () => db.$client.close());

  await app.register(errorHandler);
  await app.register(securityHeaders);
  // Duplicate parameters stay arrays here and are rejected by singleParams() (OAuth 2.1 §3.1).
  await app.register(formbody, { bodyLimit: config.bodyLimit });

  await app.register(healthRoutes);
  await app.register(metadataRoutes);
  await app.register(jwksRoutes);
  // ROUTE-REGISTRATIONS (one register() per endpoint file)

  return app;
}
