import Fastify, { type FastifyInstance } from 'fastify';
import formbody from '@fastify/formbody';
import { FailureAggregator, deriveAuditKeys, withTraceId, type AuditSink } from '@stack/audit';
import { activeTraceId, appTracer, type TracerProvider } from '@stack/telemetry';
import { trustProxyOption } from '@stack/config';
import type { AsyncRefLookup } from '@stack/stack-config';
import { invalidGrant } from '@stack/oauth';
import type { AuthConfig } from './config.ts';
import type { AppContext } from './context.ts';
import { openAuthAuditLog } from './services/audit-log.ts';
import { dataDirWarnings } from './services/data-dir.ts';
import { resolveKeks } from './services/kek.ts';
import { createKeyStore, type KeyPairSource } from './services/keys.ts';
import { startKeyRotation } from './services/key-rotation.ts';
import { createArgon2Slots } from './services/argon2-slots.ts';
import { createAuthMetrics } from './services/metrics.ts';
import { createAbuseLimiterStore } from './services/shared-limiters.ts';
import { createCimdFetchGuard } from './services/cimd-limits.ts';
import { createClientAuthLimiter } from './services/client-auth.ts';
import { createMfaLimiter } from './services/mfa-limiter.ts';
import { createClientKeyCache } from './services/client-keys.ts';
import { createClientUse } from './services/client-use.ts';
import { startTokenSweeper } from './services/token-sweeper.ts';
import { openAuthStack } from './services/stack.ts';
import { createTokenEndpointDpop } from './services/dpop.ts';
import { createFederationClients } from './services/federation-providers.ts';
import { openStore } from './store/index.ts';
import { errorHandler, httpMetrics, logSerializers, securityHeaders } from '@stack/fastify-kit';
import { routeHeaders } from './plugins/route-headers.ts';
import { metadataRoutes } from './routes/metadata.ts';
import { jwksRoutes } from './routes/jwks.ts';
import { healthRoutes } from './routes/health.ts';
// ROUTE-IMPORTS (keep one import per endpoint file, alphabetical below this line)
import { accountRoutes } from './routes/account.ts';
import { adminRoutes } from './routes/admin.ts';
import { adminUsersRoutes } from './routes/admin-users.ts';
import { adminClientsRoutes } from './routes/admin-clients.ts';
import { adminKeysRoutes } from './routes/admin-keys.ts';
import { adminServersRoutes } from './routes/admin-servers.ts';
import { adminAuditRoutes } from './routes/admin-audit.ts';
import { createAdminAudit } from './services/admin-audit.ts';
import { adminUserRoutes } from './routes/admin-user.ts';
import { accountAppsRoutes } from './routes/account-apps.ts';
import { accountPasswordRoutes } from './routes/account-password.ts';
import { accountSessionsRoutes } from './routes/account-sessions.ts';
import { accountPasskeyRemoveRoutes } from './routes/account-passkey-remove.ts';
import { accountPasskeyRoutes } from './routes/account-passkeys.ts';
import { accountRecoveryCodeRoutes } from './routes/account-recovery-codes.ts';
import { accountSecurityRoutes } from './routes/account-security.ts';
import { accountTotpRemoveRoutes } from './routes/account-totp-remove.ts';
import { accountTotpRoutes } from './routes/account-totp.ts';
import { authorizeRoutes } from './routes/authorize.ts';
import { consentRoutes } from './routes/consent.ts';
import { federationCallbackRoutes } from './routes/federation-callback.ts';
import { federationStartRoutes } from './routes/federation-start.ts';
import { loginContinueRoutes } from './routes/login-continue.ts';
import { loginEnrollPasskeyRoutes } from './routes/login-enroll-passkey.ts';
import { loginEnrollRoutes } from './routes/login-enroll.ts';
import { loginMfaRoutes } from './routes/login-mfa.ts';
import { loginPasskeyRoutes } from './routes/login-passkey.ts';
import { loginRoutes } from './routes/login.ts';
import { logoutRoutes } from './routes/logout.ts';
import { passkeyAssetRoutes } from './routes/passkey-assets.ts';
import { pages } from './plugins/pages.ts';
import { introspectRoutes } from './routes/introspect.ts';
import { revocationRoutes } from './routes/revocations.ts';
import { revokeRoutes } from './routes/revoke.ts';
import { tokenRoutes } from './routes/token.ts';
import { registerRoutes } from './routes/register.ts';
import { resetPasswordRoutes } from './routes/reset-password.ts';

export interface BuildOptions {
  /** Audit sink; defaults to the hash-chained file (and stdout) from config. */
  audit?: AuditSink;
  /** Clock in ms; tests move it to check expiry. */
  now?: () => number;
  /** Fastify logger option; defaults to config.logLevel. */
  logger?: boolean | object;
  /** Where new signing keys' RSA key pairs come from; defaults to generating one (tests reuse a few). */
  keyPair?: KeyPairSource;
  /** Values for the stack file's ${secret:NAME} and ${env:NAME} (identity providers' client secrets); default: none set. */
  refs?: AsyncRefLookup;
  /** A started tracing SDK's provider (main.ts, when an OTLP endpoint is set); without it no span is made. */
  tracing?: { tracerProvider: TracerProvider };
}

/** Builds the authorization server as a Fastify instance. Never reads process.env and never listens. */
export async function buildApp(config: AuthConfig, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    // A logger given by the caller (tests) keeps the serializers: no query value is ever logged.
    logger: typeof opts.logger === 'object' ? { serializers: logSerializers, ...opts.logger } : opts.logger ?? { level: config.logLevel, serializers: logSerializers, redact: ['req.headers.authorization', 'req.headers.cookie'] },
    bodyLimit: config.bodyLimit,
    trustProxy: trustProxyOption(config.trustProxy),
    // Path parameters longer than maxParamLength are refused before routing.
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 200 },
  });

  // Before anything is created: what is already there with a mode open to other users.
  for (const w of dataDirWarnings(config)) app.log.warn(w);
  const now = opts.now ?? Date.now;
  // First: an unusable stack file stops the start before anything is opened that would need closing.
  const stack = openAuthStack(config, { info: (m) => app.log.info(m), warn: (m) => app.log.warn(m), error: (m) => app.log.error(m) });
  const tracer = opts.tracing ? appTracer(opts.tracing.tracerProvider, 'auth-server') : undefined;
  const argon2 = createArgon2Slots(tracer);
  // Created before the store so that its availability callbacks can set the gauge; the listener
  // that serves them is main.ts's (buildApp never listens).
  let redisReady = () => false;
  const metrics = createAuthMetrics({ argon2, redisReady: config.redis ? () => redisReady() : undefined });
  const store = await openStore(config, {
    unavailable: (err) => {
      metrics.databaseAvailable(false);
      app.log.error({ err }, 'database unavailable: requests fail with 503 until it answers again');
    },
    recovered: () => {
      metrics.databaseAvailable(true);
      app.log.warn('database reachable again');
    },
  });
  const keks = resolveKeks(config);
  const abuse = createAbuseLimiterStore(config, { error: (m) => app.log.error(m), info: (m) => app.log.info(m) }, now);
  // The audit log is checked against its anchors before the server takes a request.
  const ownAudit = opts.audit ? undefined : await openAuthAuditLog(config, keks, store.auditAnchors, {
    stream: process.stdout,
    onError: (err) => app.log.error({ err }, 'audit anchor not recorded (the log itself is unaffected)'),
  }).catch(async (err: unknown) => {
    await store.close();
    await abuse.close();
    throw err;
  });
  const redis = abuse.redis;
  if (redis) redisReady = () => redis.isReady();
  // With tracing on, each line names its request's trace (trace_id).
  const rawAudit = tracer ? withTraceId(opts.audit ?? ownAudit!, activeTraceId) : opts.audit ?? ownAudit!;
  const audit = metrics.counting(rawAudit);
  const ctx: AppContext = {
    config,
    stack,
    store,
    now,
    keks,
    audit,
    auditFailures: new FailureAggregator({ sink: rawAudit, intervalMs: config.audit.failureIntervalMs, onFailure: metrics.countEvent }),
    keys: createKeyStore(store.signingKeys, keks, now, config.accessTokenTtl, opts.keyPair),
    limiters: abuse.limiters,
    // Its Redis replay store uses abuse.redis, closed with it below.
    dpop: createTokenEndpointDpop(config, keks, abuse.redis, now),
    cimd: createCimdFetchGuard(config.cimd, abuse.limiters),
    gates: abuse.gates,
    clientAuthLimiter: createClientAuthLimiter(config.login, abuse.limiters),
    mfaLimiter: createMfaLimiter(abuse.limiters),
    argon2,
    tracer,
    metrics,
    assertionReplay: abuse.assertionReplay,
    clientKeys: createClientKeyCache({ allowPrivateAddresses: config.cimd.allowPrivateAddresses, timeoutMs: config.cimd.timeoutMs, now }),
    issuerKeys: createClientKeyCache({
      allowPrivateAddresses: config.cimd.allowPrivateAddresses, timeoutMs: config.cimd.timeoutMs, now, owner: { noun: "the issuer's", fail: invalidGrant },
    }),
    federation: createFederationClients(opts.refs ?? { secret: () => undefined, env: () => undefined }, now),
    clientUse: createClientUse(store.clients, now, (err) => app.log.warn({ err }, 'could not record when a client was last used')),
  };
  try {
    // Keys are generated on first start, so the JWKS is never empty.
    await ctx.keys.active();
  } catch (err) {
    ctx.auditFailures.close();
    await ownAudit?.close();
    await store.close();
    await abuse.close();
    throw err;
  }
  const periodDays = config.signingKeyRotationMs / 86_400_000;
  ctx.keyRotation = config.signingKeyRotationMs > 0 ? startKeyRotation({
    keys: ctx.keys,
    periodMs: config.signingKeyRotationMs,
    onRotated: (r) => {
      audit.write({
        event: 'key.rotated', actor: 'scheduler', decision: 'allow', kid: r.kid, previous_kid: r.previous.join(' ') || undefined,
        signs_from: new Date(r.signsFrom).toISOString(), reason: `scheduled: the signing key is ${periodDays} days old (SIGNING_KEY_ROTATION_DAYS)`,
      });
      app.log.info({ kid: r.kid, signsFrom: new Date(r.signsFrom).toISOString() }, 'scheduled signing-key rotation: next key published');
    },
    onError: (err) => app.log.error({ err }, 'scheduled signing-key rotation failed (tried again at the next check)'),
  }) : undefined;
  app.decorate('ctx', ctx);
  const stopSweeper = startTokenSweeper(ctx, 60_000, (err) => app.log.error({ err }, 'token sweep failed'));
  // A sweep or rotation check under way ends, counted failures are written and the chain's head
  // anchored, before the store closes.
  app.addHook('onClose', async () => {
    await stopSweeper();
    await ctx.keyRotation?.close();
    ctx.auditFailures.close();
    await ctx.clientUse.close();
    await ownAudit?.close();
    await store.close();
  });
  // Requests before Redis answers get 503 (fail closed); a short wait at start spares the first ones.
  app.addHook('onReady', async () => void (await abuse.redis?.waitUntilReady(2_000)));
  app.addHook('onClose', async () => abuse.close());
  app.addHook('onClose', async () => ctx.cimd.close());
  app.addHook('onClose', async () => ctx.clientKeys.close());
  app.addHook('onClose', async () => ctx.issuerKeys.close());

  // With tracing on, first: the plugin must see every route as it is added. Loaded only then.
  if (opts.tracing) {
    const { fastifyTracing } = await import('@stack/telemetry/fastify');
    await app.register(fastifyTracing(opts.tracing.tracerProvider));
  }
  await app.register(httpMetrics, { metrics: metrics.app.http });
  await app.register(errorHandler, { pragmaNoCache: true });
  // onSend: pages set their own stricter Content-Security-Policy, which is kept.
  await app.register(securityHeaders, { hook: 'onSend', hsts: config.secureCookies });
  // Before any route: it reads each route's config (noStore, cors) as the route is added.
  await app.register(routeHeaders);
  // Set by the parseForm and authenticateClient steps of the token, revocation and introspection routes.
  app.decorateRequest('form', null);
  app.decorateRequest('oauthClient', null);
  // Duplicate parameters stay arrays here and are rejected by singleParams() (OAuth 2.1 §3.1).
  await app.register(formbody, { bodyLimit: config.bodyLimit });

  await app.register(healthRoutes);
  await app.register(metadataRoutes);
  await app.register(jwksRoutes);
  // ROUTE-REGISTRATIONS (one register() per endpoint file)
  // Cookies, CSRF and the pending-request store shared by the three browser pages.
  await app.register(pages);
  await app.register(authorizeRoutes);
  await app.register(loginRoutes);
  await app.register(consentRoutes);
  await app.register(federationStartRoutes);
  await app.register(federationCallbackRoutes);
  await app.register(logoutRoutes);
  await app.register(accountRoutes);
  const adminAudit = createAdminAudit({ authLog: config.auditLog, mcpLog: config.mcpAuditLog, keys: deriveAuditKeys(keks), anchors: store.auditAnchors, now });
  await app.register(adminRoutes, { audit: adminAudit });
  await app.register(adminUsersRoutes);
  await app.register(adminClientsRoutes);
  await app.register(adminKeysRoutes);
  await app.register(adminServersRoutes);
  await app.register(adminAuditRoutes, { audit: adminAudit });
  await app.register(adminUserRoutes);
  await app.register(accountAppsRoutes);
  await app.register(accountSessionsRoutes);
  await app.register(accountPasswordRoutes);
  await app.register(resetPasswordRoutes);
  // The second factor of a sign-in, and the person's own factors.
  await app.register(loginMfaRoutes);
  await app.register(loginPasskeyRoutes);
  await app.register(loginEnrollRoutes);
  await app.register(loginEnrollPasskeyRoutes);
  await app.register(loginContinueRoutes);
  await app.register(accountSecurityRoutes);
  await app.register(accountTotpRoutes);
  await app.register(accountTotpRemoveRoutes);
  await app.register(accountPasskeyRoutes);
  await app.register(accountPasskeyRemoveRoutes);
  await app.register(accountRecoveryCodeRoutes);
  await app.register(passkeyAssetRoutes);
  await app.register(tokenRoutes);
  await app.register(revokeRoutes);
  await app.register(introspectRoutes);
  await app.register(revocationRoutes);
  await app.register(registerRoutes);

  return app;
}
