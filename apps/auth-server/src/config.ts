import { z } from 'zod';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditChainConfig, auditSettings, databaseSettings, tracingConfig, tracingSettings, envBool, httpUrl, loadConfig, logLevel, metricsHost, metricsListen, metricsPort, metricsWarning, port, positiveInt, key256, keyPrefix, postgresConfig, redisUrl, sqlIdentifier, trustProxy } from '@stack/config';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

// Every setting, its default and meaning is listed in .env.example; keep the two in step.

/** CIMD_ALLOWED_HOSTS: comma-separated, lowercased (URL hostnames are). */
const cimdAllowedHosts = (v: string): string[] => v.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
/** scheme://host[:port], lowercased: the stack file's server paths are appended to it. */
const origin = httpUrl.refine((u) => new URL(u).origin === u, 'must be an origin (scheme://host[:port]) without path or query: the stack file\'s server paths follow it');
// Outside production a rotation period may be as short as about 9 s, to watch a rotation happen.
const MIN_DEV_ROTATION_DAYS = 0.0001;
const HOST_PATTERN = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    AUTH_ISSUER: httpUrl.default('http://localhost:4000'),
    AUTH_HOST: z.string().min(1).default('127.0.0.1'),
    AUTH_PORT: port.default(4000),
    METRICS_HOST: metricsHost(),
    AUTH_METRICS_PORT: metricsPort(9464),
    DATA_DIR: z.string().min(1).default('./data'),
    AUTH_DATABASE_PATH: z.string().min(1).optional(),
    ...databaseSettings(),
    DATABASE_SCHEMA: sqlIdentifier.default('public'),
    KEY_ENCRYPTION_KEY: key256.optional(),
    KEY_ENCRYPTION_KEY_PREVIOUS: z.string().optional(),
    // The stack file's servers are served at this origin: each one's RFC 8707 resource is the origin followed by its path.
    MCP_PUBLIC_ORIGIN: origin.default('http://localhost:4001'),
    STACK_FILE: z.string().min(1).optional(),
    ACCESS_TOKEN_TTL_SECONDS: positiveInt.max(3600).default(600),
    // 0: no scheduled rotation. Fractions of a day below 1 are for trying rotation out (refused in production).
    SIGNING_KEY_ROTATION_DAYS: z.coerce.number().finite().min(0).max(3650).default(90),
    REFRESH_TOKEN_TTL_SECONDS: positiveInt.max(90 * 86400).default(30 * 86400),
    AUTH_CODE_TTL_SECONDS: positiveInt.max(60).default(60),
    REFRESH_GRACE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
    SESSION_TTL_SECONDS: positiveInt.max(30 * 86400).default(8 * 3600),
    // RFC 9449 §8: 'on' makes every DPoP proof at /token carry a server nonce (one extra round trip per nonce window).
    DPOP_NONCE: z.enum(['off', 'on']).default('off'),
    // RFC 7591 at /register: open (anyone registers, the default and the behaviour before the setting
    // existed), approval (a client that registers itself waits for `clients approve`), closed (no /register).
    REGISTRATION_MODE: z.enum(['open', 'approval', 'closed']).optional(),
    // Deprecated, read for one more release: true is REGISTRATION_MODE=open, false closed.
    REGISTRATION_ENABLED: envBool.optional(),
    REGISTRATION_RATE_LIMIT_PER_HOUR: positiveInt.default(20),
    CIMD_ENABLED: envBool.default(true),
    CIMD_ALLOW_PRIVATE_ADDRESSES: envBool.default(false),
    CIMD_MAX_BYTES: positiveInt.max(1024 * 1024).default(5120),
    CIMD_TIMEOUT_MS: positiveInt.max(10_000).default(3000),
    CIMD_MAX_CACHE_SECONDS: positiveInt.default(86400),
    // --- Hardening: CIMD fetch limits ---
    CIMD_FETCHES_PER_ADDRESS_PER_MINUTE: positiveInt.default(10),
    CIMD_HOSTS_PER_ADDRESS_PER_HOUR: positiveInt.default(20),
    CIMD_FETCHES_PER_HOST_PER_MINUTE: positiveInt.default(60),
    CIMD_QUEUE_WAIT_MS: positiveInt.max(30_000).default(5000),
    CIMD_FAILURE_CACHE_SECONDS: positiveInt.max(3600).default(60),
    CIMD_ALLOWED_HOSTS: z.string().default(''),
    AUTHORIZE_RATE_LIMIT_PER_MINUTE: positiveInt.default(60),
    AUTHORIZE_MAX_PENDING: positiveInt.default(10_000),
    LOGIN_MAX_FAILURES_PER_ACCOUNT: positiveInt.default(5),
    // Unset: ten times LOGIN_MAX_FAILURES_PER_ACCOUNT.
    LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES: positiveInt.optional(),
    LOGIN_MAX_FAILURES_PER_ADDRESS: positiveInt.default(20),
    LOGIN_FAILURE_WINDOW_SECONDS: positiveInt.default(900),
    // Unset: LOGIN_MAX_FAILURES_PER_ACCOUNT. Failures allowed from a browser holding a device cookie for the account.
    LOGIN_MAX_FAILURES_PER_DEVICE: positiveInt.optional(),
    LOGIN_DELAY_MAX_SECONDS: positiveInt.max(300).default(30),
    // Browsers cap cookie lifetimes at 400 days.
    LOGIN_DEVICE_COOKIE_TTL_SECONDS: positiveInt.max(400 * 86400).default(90 * 86400),
    // Unset: 100, or AUTHORIZE_MAX_PENDING when that is lower.
    AUTHORIZE_MAX_PENDING_PER_ADDRESS: positiveInt.optional(),
    REDIS_URL: redisUrl.optional(),
    REDIS_KEY_PREFIX: keyPrefix.default('mcp-oauth:'),
    AUDIT_LOG: z.string().optional(),
    AUDIT_STDOUT: envBool.default(false),
    // Read by the admin console only; `npm start` gives both apps one environment, so the MCP server's own setting is the default.
    ADMIN_MCP_AUDIT_LOG: z.string().min(1).max(4096).optional(),
    MCP_AUDIT_LOG: z.string().optional(),
    ...auditSettings(),
    ...tracingSettings('mcp-oauth-auth-server'),
    TRUST_PROXY: trustProxy.default(false),
    BODY_LIMIT_BYTES: positiveInt.max(10 * 1024 * 1024).default(64 * 1024),
    LOG_LEVEL: logLevel.default('info'),
  })
  .superRefine((c, ctx) => {
    if (c.REGISTRATION_MODE !== undefined && c.REGISTRATION_ENABLED !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['REGISTRATION_ENABLED'], message: 'is replaced by REGISTRATION_MODE: set only REGISTRATION_MODE (open, approval or closed), not both' });
    }
    if (c.LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES !== undefined && c.LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES < c.LOGIN_MAX_FAILURES_PER_ACCOUNT) {
      ctx.addIssue({ code: 'custom', path: ['LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES'], message: 'must be at least LOGIN_MAX_FAILURES_PER_ACCOUNT' });
    }
    for (const h of cimdAllowedHosts(c.CIMD_ALLOWED_HOSTS)) {
      if (!HOST_PATTERN.test(h)) ctx.addIssue({ code: 'custom', path: ['CIMD_ALLOWED_HOSTS'], message: `'${h.slice(0, 100)}' is not a hostname or *.hostname` });
    }
    if (c.AUTHORIZE_MAX_PENDING_PER_ADDRESS !== undefined && c.AUTHORIZE_MAX_PENDING_PER_ADDRESS > c.AUTHORIZE_MAX_PENDING) {
      ctx.addIssue({ code: 'custom', path: ['AUTHORIZE_MAX_PENDING_PER_ADDRESS'], message: 'must be at most AUTHORIZE_MAX_PENDING' });
    }
    const rotationDays = c.SIGNING_KEY_ROTATION_DAYS;
    const minRotationDays = c.NODE_ENV === 'production' ? 1 : MIN_DEV_ROTATION_DAYS;
    if (rotationDays !== 0 && rotationDays < minRotationDays) {
      ctx.addIssue({ code: 'custom', path: ['SIGNING_KEY_ROTATION_DAYS'], message: `must be 0 (off) or at least ${minRotationDays}${c.NODE_ENV === 'production' ? ' in production' : ''}` });
    }
    if (c.DATABASE_URL && !c.KEY_ENCRYPTION_KEY) {
      // Every instance on a shared database must open the same envelopes; a per-machine key cannot.
      ctx.addIssue({ code: 'custom', path: ['KEY_ENCRYPTION_KEY'], message: 'is required with DATABASE_URL: every instance sharing the database needs the same key (openssl rand -base64 32)' });
    }
    if (c.NODE_ENV === 'production') {
      // MCP 2026-07-28 security considerations: all AS endpoints MUST be served over HTTPS.
      if (!c.AUTH_ISSUER.startsWith('https://')) ctx.addIssue({ code: 'custom', path: ['AUTH_ISSUER'], message: 'must be an https URL in production' });
      if (!c.MCP_PUBLIC_ORIGIN.startsWith('https://')) ctx.addIssue({ code: 'custom', path: ['MCP_PUBLIC_ORIGIN'], message: 'must be an https origin in production' });
      if (!c.KEY_ENCRYPTION_KEY) ctx.addIssue({ code: 'custom', path: ['KEY_ENCRYPTION_KEY'], message: 'is required in production (generate one with: openssl rand -base64 32)' });
      if (c.TRUST_PROXY === true) {
        // Fastify's `true` trusts every hop and takes the leftmost X-Forwarded-For entry, which the
        // client writes: anyone could pick their own address and slip past the address limits.
        ctx.addIssue({ code: 'custom', path: ['TRUST_PROXY'], message: "'true' is refused in production: set the number of proxies in front of the server (usually 1) or their addresses/CIDRs" });
      }
      if (c.CIMD_ALLOW_PRIVATE_ADDRESSES) ctx.addIssue({ code: 'custom', path: ['CIMD_ALLOW_PRIVATE_ADDRESSES'], message: 'must be false in production (SSRF)' });
    }
  })
  .transform((c) => {
    const dataDir = resolve(c.DATA_DIR);
    return {
      env: c.NODE_ENV,
      issuer: c.AUTH_ISSUER,
      host: c.AUTH_HOST,
      port: c.AUTH_PORT,
      /** Prometheus metrics on a listener of their own (main.ts starts it); undefined when off. */
      metrics: metricsListen(c.METRICS_HOST, c.AUTH_METRICS_PORT),
      dataDir,
      databasePath: c.AUTH_DATABASE_PATH === ':memory:' ? ':memory:' : resolve(c.AUTH_DATABASE_PATH ?? join(dataDir, 'auth.db')),
      /** Set when DATABASE_URL is: PostgreSQL holds everything and databasePath is unused. */
      postgres: postgresConfig(c, c.DATABASE_SCHEMA),
      /** Set when REDIS_URL is: the failed-login, client-auth and registration limits are shared by every instance. */
      redis: c.REDIS_URL ? { url: c.REDIS_URL, keyPrefix: c.REDIS_KEY_PREFIX } : undefined,
      keyEncryptionKey: c.KEY_ENCRYPTION_KEY,
      previousKeyEncryptionKeys: (c.KEY_ENCRYPTION_KEY_PREVIOUS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
      /** The MCP app's public origin; the accepted resources are it followed by each stack file server's path. */
      mcpPublicOrigin: c.MCP_PUBLIC_ORIGIN,
      /** Roles, scopes and the protected MCP servers (read by buildApp, again on SIGHUP). */
      stackFile: resolve(c.STACK_FILE ?? join(REPO_ROOT, 'stack.yaml')),
      accessTokenTtl: c.ACCESS_TOKEN_TTL_SECONDS,
      /** Scheduled signing-key rotation: a new key once the signing one is this old (ms); 0 when off. */
      signingKeyRotationMs: Math.round(c.SIGNING_KEY_ROTATION_DAYS * 86_400_000),
      refreshTokenTtl: c.REFRESH_TOKEN_TTL_SECONDS,
      authCodeTtl: c.AUTH_CODE_TTL_SECONDS,
      refreshGrace: c.REFRESH_GRACE_SECONDS,
      sessionTtl: c.SESSION_TTL_SECONDS,
      /** DPoP at the token endpoint (RFC 9449): whether proofs must carry a server nonce (§8). */
      dpop: { nonce: c.DPOP_NONCE === 'on' },
      registration: {
        /**
         * open: /register registers (RFC 7591). approval: it registers too, but the client, like a
         * metadata document client seen for the first time, waits for an admin's approval before it can
         * sign anyone in or get a token. closed: no /register (the metadata omits it).
         */
        mode: c.REGISTRATION_MODE ?? (c.REGISTRATION_ENABLED === false ? 'closed' : 'open'),
        perHour: c.REGISTRATION_RATE_LIMIT_PER_HOUR,
        /** The deprecated REGISTRATION_ENABLED was set (configWarnings says what to set instead). */
        deprecatedSetting: c.REGISTRATION_ENABLED !== undefined,
      },
      cimd: {
        enabled: c.CIMD_ENABLED,
        allowPrivateAddresses: c.CIMD_ALLOW_PRIVATE_ADDRESSES,
        maxBytes: c.CIMD_MAX_BYTES,
        timeoutMs: c.CIMD_TIMEOUT_MS,
        maxCacheSeconds: c.CIMD_MAX_CACHE_SECONDS,
        /** New documents a client address may make the server fetch per minute (cached ones are free). */
        fetchesPerAddressPerMinute: c.CIMD_FETCHES_PER_ADDRESS_PER_MINUTE,
        /** Distinct document hosts a client address may make the server fetch from per hour. */
        hostsPerAddressPerHour: c.CIMD_HOSTS_PER_ADDRESS_PER_HOUR,
        fetchesPerHostPerMinute: c.CIMD_FETCHES_PER_HOST_PER_MINUTE,
        /** How long a resolution waits for a fetch slot before 503. */
        queueWaitMs: c.CIMD_QUEUE_WAIT_MS,
        /** How long a failed fetch is remembered (and answered from memory) per URL. */
        failureCacheSeconds: c.CIMD_FAILURE_CACHE_SECONDS,
        /** Hostnames (or *.suffix patterns) documents may come from; empty: any public host. */
        allowedHosts: cimdAllowedHosts(c.CIMD_ALLOWED_HOSTS),
      },
      /**
       * Pending sign-ins: new ones per address per minute, live ones per address (a new one replaces
       * that address's oldest) and in all (a new one replaces the oldest of the address holding most).
       */
      authorize: { perMinute: c.AUTHORIZE_RATE_LIMIT_PER_MINUTE, maxPerAddress: c.AUTHORIZE_MAX_PENDING_PER_ADDRESS ?? Math.min(100, c.AUTHORIZE_MAX_PENDING), max: c.AUTHORIZE_MAX_PENDING, ttlSeconds: 600 },
      login: {
        /** From one address: the per-account limit, keyed by account and address, so others' failures cannot lock the account. */
        maxFailuresPerAccount: c.LOGIN_MAX_FAILURES_PER_ACCOUNT,
        /** From all addresses together: past it, attempts from unknown devices are delayed (never refused). */
        maxFailuresPerAccountAllAddresses: c.LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES ?? 10 * c.LOGIN_MAX_FAILURES_PER_ACCOUNT,
        maxFailuresPerAddress: c.LOGIN_MAX_FAILURES_PER_ADDRESS,
        /** From a browser with a device cookie for the account: its own budget, apart from the others. */
        maxFailuresPerDevice: c.LOGIN_MAX_FAILURES_PER_DEVICE ?? c.LOGIN_MAX_FAILURES_PER_ACCOUNT,
        maxDelaySeconds: c.LOGIN_DELAY_MAX_SECONDS,
        deviceCookieTtlSeconds: c.LOGIN_DEVICE_COOKIE_TTL_SECONDS,
        windowSeconds: c.LOGIN_FAILURE_WINDOW_SECONDS,
      },
      auditLog: c.AUDIT_LOG === 'off' ? undefined : resolve(c.AUDIT_LOG ?? join(dataDir, 'auth-audit.log')),
      auditStdout: c.AUDIT_STDOUT,
      /**
       * The MCP server's audit log, read by the admin console for its decisions (same host, or a
       * shared volume); undefined when off. Default: where the MCP server writes it with the same settings.
       */
      mcpAuditLog: mcpAuditLogPath(c.ADMIN_MCP_AUDIT_LOG ?? c.MCP_AUDIT_LOG, dataDir),
      /** Rotation, anchoring, what to do with a log that does not match, failure summaries (AUDIT_* settings). */
      audit: auditChainConfig(c),
      /** OpenTelemetry traces (main.ts starts the SDK); undefined when no OTLP endpoint is set. */
      tracing: tracingConfig(c),
      /**
       * Fastify's trustProxy: false, a hop count or proxy addresses. `true` (development only) means
       * one hop, never Fastify's "every hop".
       */
      trustProxy: c.TRUST_PROXY === true ? 1 : c.TRUST_PROXY,
      bodyLimit: c.BODY_LIMIT_BYTES,
      logLevel: c.LOG_LEVEL,
      secureCookies: c.AUTH_ISSUER.startsWith('https://'),
    };
  });

function mcpAuditLogPath(setting: string | undefined, dataDir: string): string | undefined {
  return setting === 'off' ? undefined : resolve(setting ?? join(dataDir, 'mcp-audit.log'));
}

export type AuthConfig = Readonly<z.output<typeof schema>>;

/** Every environment setting the authorization server reads (deployment files are checked against it). */
export const authSettingNames: readonly string[] = Object.freeze(Object.keys(schema.in.shape));

/** Validates auth-server settings (environment-style keys) once; throws ConfigError listing every problem. */
export function loadAuthConfig(env: Record<string, string | undefined>): AuthConfig {
  return loadConfig(schema, env);
}

/** Insecure settings that are allowed outside production, to be printed loudly at start. */
export function configWarnings(c: AuthConfig): string[] {
  const w: string[] = [];
  const metrics = metricsWarning(c.metrics, 'AUTH_METRICS_PORT');
  if (metrics) w.push(metrics);
  if (c.registration.deprecatedSetting) {
    w.push(`REGISTRATION_ENABLED is deprecated and will be removed in the next release: set REGISTRATION_MODE=${c.registration.mode} instead (open, approval or closed)`);
  }
  if (c.env === 'production') return w;
  if (!c.keyEncryptionKey) w.push(`KEY_ENCRYPTION_KEY is not set: a development key was generated in ${c.dataDir}/kek.key (never do this in production)`);
  if (!c.issuer.startsWith('https://')) w.push(`AUTH_ISSUER ${c.issuer} is not https: acceptable for local development only`);
  if (c.cimd.allowPrivateAddresses) w.push('CIMD_ALLOW_PRIVATE_ADDRESSES=true: client metadata may be fetched from private and loopback addresses');
  return w;
}
