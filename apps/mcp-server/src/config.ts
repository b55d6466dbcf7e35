import { z } from 'zod';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { auditChainConfig, auditSettings, databaseSettings, tracingConfig, tracingSettings, envBool, httpUrl, key256, keyPrefix, loadConfig, logLevel, metricsHost, metricsListen, metricsPort, metricsWarning, port, positiveInt, postgresConfig, redisUrl, sqlIdentifier } from '@stack/config';
import { isRoleName, type Role } from '@stack/oauth';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * MCP_AUTH_MODE. oauth and apikey: what a stack-file server whose entry names no `auth` accepts
 * (pipeline/authenticate.ts serverAccepts); mtls and none: every server, whatever its entry says.
 */
export const AUTH_MODES = ['oauth', 'apikey', 'mtls', 'none'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

const list = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);

// Every setting, its default and meaning is listed in .env.example; keep the two in step.
const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    MCP_HOST: z.string().min(1).default('127.0.0.1'),
    MCP_PORT: port.default(4001),
    METRICS_HOST: metricsHost(),
    MCP_METRICS_PORT: metricsPort(9465),
    MCP_PUBLIC_URL: httpUrl.default('http://localhost:4001/mcp'),
    AUTH_ISSUER: httpUrl.default('http://localhost:4000'),
    AUTH_JWKS_URL: httpUrl.optional(),
    AUTH_REVOCATIONS_URL: httpUrl.optional(),
    MCP_AUTH_MODE: z.enum(AUTH_MODES).default('oauth'),
    MCP_ALLOW_INSECURE_NO_AUTH: envBool.default(false),
    MCP_NO_AUTH_ROLE: z.string().default('viewer'),
    MCP_TRANSPORT: z.enum(['http', 'stdio']).default('http'),
    DATA_DIR: z.string().min(1).default('./data'),
    MCP_DATABASE_PATH: z.string().min(1).optional(),
    // The app's own state in PostgreSQL (shared by several instances); its tables go in their own schema.
    ...databaseSettings(),
    MCP_DATABASE_SCHEMA: sqlIdentifier.default('mcp'),
    MCP_DEMO_DATABASE_PATH: z.string().min(1).optional(),
    MCP_POLICY_FILE: z.string().min(1).optional(),
    STACK_FILE: z.string().min(1).optional(),
    MCP_AUDIT_LOG: z.string().optional(),
    MCP_AUDIT_STDOUT: envBool.default(false),
    ...auditSettings(),
    ...tracingSettings('mcp-oauth-mcp-server'),
    RATE_LIMIT_PER_MINUTE: positiveInt.max(1_000_000).default(100),
    MCP_ALLOWED_ORIGINS: z.string().optional(),
    MCP_TLS_CERT: z.string().optional(),
    MCP_TLS_KEY: z.string().optional(),
    MCP_TLS_CA: z.string().optional(),
    MCP_MTLS_ROLE_MAP: z.string().optional(),
    MCP_API_KEY: z.string().max(512).optional(),
    REVOCATION_POLL_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
    REDIS_URL: redisUrl.optional(),
    REDIS_KEY_PREFIX: keyPrefix.default('mcp-oauth:'),
    REDIS_REVOCATION_SYNC_MS: positiveInt.min(100).max(60_000).default(1000),
    BODY_LIMIT_BYTES: positiveInt.max(10 * 1024 * 1024).default(256 * 1024),
    // RFC 9449 §9: require server nonces in DPoP proofs (one extra round trip per nonce window).
    MCP_DPOP_NONCE: z.enum(['off', 'on']).default('off'),
    MCP_DPOP_REPLAY_MAX_ENTRIES: positiveInt.min(1000).max(10_000_000).default(200_000),
    KEY_ENCRYPTION_KEY: key256.optional(),
    // Comma-separated older KEKs: the audit log's files written before a KEK rotation are still checked.
    KEY_ENCRYPTION_KEY_PREVIOUS: z.string().optional(),
    LOG_LEVEL: logLevel.default('info'),
    // The demo SQL tools: worker processes, time limits, memory and disk bounds.
    MCP_SQL_WORKERS: positiveInt.max(32).default(2),
    MCP_SQL_QUERY_TIMEOUT_MS: positiveInt.min(100).max(600_000).default(2000),
    MCP_SQL_WRITE_TIMEOUT_MS: positiveInt.min(100).max(600_000).default(1000),
    MCP_SQL_WORKER_MEMORY_MB: positiveInt.min(128).max(65_536).default(512),
    MCP_DEMO_DB_MAX_BYTES: positiveInt.min(1024 * 1024).max(2 ** 44).default(256 * 1024 * 1024),
  })
  .superRefine((c, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    // The name only: whether the stack file declares it is checked at start (runtime.ts), where the file is read.
    if (!isRoleName(c.MCP_NO_AUTH_ROLE)) issue('MCP_NO_AUTH_ROLE', 'must be a role name (lowercase letters, digits, _ or -)');
    for (const o of list(c.MCP_ALLOWED_ORIGINS)) {
      if (o !== new URL(o, 'http://x').origin || !/^https?:\/\//.test(o)) issue('MCP_ALLOWED_ORIGINS', `'${o}' is not an origin (scheme://host[:port])`);
    }
    if (c.MCP_AUTH_MODE === 'none' && c.MCP_TRANSPORT === 'http') {
      // No authentication is only for a developer's own machine: loopback, explicit opt-in, never production.
      if (!c.MCP_ALLOW_INSECURE_NO_AUTH) issue('MCP_AUTH_MODE', "'none' requires --insecure (MCP_ALLOW_INSECURE_NO_AUTH=true)");
      if (!LOOPBACK.has(c.MCP_HOST)) issue('MCP_HOST', "must be a loopback address (127.0.0.1, ::1, localhost) when the auth mode is 'none'");
      if (c.NODE_ENV === 'production') issue('MCP_AUTH_MODE', "'none' is refused in production");
    }
    if (c.MCP_AUTH_MODE === 'mtls') {
      for (const k of ['MCP_TLS_CERT', 'MCP_TLS_KEY', 'MCP_TLS_CA', 'MCP_MTLS_ROLE_MAP'] as const) if (!c[k]) issue(k, "is required when the auth mode is 'mtls'");
      if (c.MCP_MTLS_ROLE_MAP && !parseRoleMap(c.MCP_MTLS_ROLE_MAP)) issue('MCP_MTLS_ROLE_MAP', 'must be a JSON object or a comma list of NAME=ROLE, each ROLE a role name the stack file declares');
    }
    if ((c.MCP_TLS_CERT === undefined) !== (c.MCP_TLS_KEY === undefined)) issue('MCP_TLS_KEY', 'MCP_TLS_CERT and MCP_TLS_KEY go together');
    if (c.MCP_TRANSPORT === 'stdio') {
      if (!c.MCP_API_KEY) issue('MCP_API_KEY', 'is required with the stdio transport (create one with: npm run admin -- apikeys create --name N --role R)');
      // Standard output is the protocol channel in stdio mode.
      if (c.MCP_AUDIT_STDOUT) issue('MCP_AUDIT_STDOUT', 'cannot be used with the stdio transport (standard output carries the protocol)');
      if (c.AUDIT_ANCHOR_STDOUT) issue('AUDIT_ANCHOR_STDOUT', 'cannot be used with the stdio transport (standard output carries the protocol)');
    }
    if (c.DATABASE_URL && !c.KEY_ENCRYPTION_KEY) {
      // Every instance opens the same secrets and continues audit chains keyed from the KEK: a per-machine key cannot.
      issue('KEY_ENCRYPTION_KEY', 'is required with DATABASE_URL: every instance sharing the database needs the same key (openssl rand -base64 32)');
    }
    if (c.NODE_ENV === 'production') {
      if (!c.MCP_PUBLIC_URL.startsWith('https://')) issue('MCP_PUBLIC_URL', 'must be an https URL in production');
      if (!c.AUTH_ISSUER.startsWith('https://')) issue('AUTH_ISSUER', 'must be an https URL in production');
    }
  })
  .transform((c) => {
    const dataDir = resolve(c.DATA_DIR);
    const publicUrl = new URL(c.MCP_PUBLIC_URL);
    const file = (p: string | undefined, fallback: string) => (p === ':memory:' ? ':memory:' : resolve(p ?? join(dataDir, fallback)));
    return {
      env: c.NODE_ENV,
      host: c.MCP_HOST,
      port: c.MCP_PORT,
      /** Prometheus metrics on a listener of their own (main.ts starts it, HTTP transport only); undefined when off. */
      metrics: metricsListen(c.METRICS_HOST, c.MCP_METRICS_PORT),
      /** Canonical resource URL (RFC 8707 audience, PRM `resource`). */
      publicUrl: c.MCP_PUBLIC_URL,
      /** Path of the MCP endpoint, taken from the public URL. */
      mcpPath: publicUrl.pathname === '' ? '/' : publicUrl.pathname,
      issuer: c.AUTH_ISSUER,
      jwksUrl: c.AUTH_JWKS_URL ?? `${c.AUTH_ISSUER}/jwks`,
      /** Revocation feed; like jwksUrl it may name an internal host (containers) while `iss` stays public. */
      revocationsUrl: c.AUTH_REVOCATIONS_URL ?? `${c.AUTH_ISSUER}/revocations`,
      authMode: c.MCP_AUTH_MODE,
      insecureNoAuth: c.MCP_ALLOW_INSECURE_NO_AUTH,
      noAuthRole: c.MCP_NO_AUTH_ROLE,
      transport: c.MCP_TRANSPORT,
      dataDir,
      databasePath: file(c.MCP_DATABASE_PATH, 'mcp.db'),
      /**
       * Set when DATABASE_URL is: the app's state (API keys, secrets, audit anchors) is in PostgreSQL,
       * in MCP_DATABASE_SCHEMA, and databasePath is unused. The demo database stays a local file.
       */
      postgres: postgresConfig(c, c.MCP_DATABASE_SCHEMA),
      demoDatabasePath: file(c.MCP_DEMO_DATABASE_PATH, 'demo.db'),
      /** The stack file both apps read: roles, scopes and the servers this app protects. */
      stackFile: resolve(c.STACK_FILE ?? join(REPO_ROOT, 'stack.yaml')),
      /** A policy file of the older format, when set: it replaces the stack file's rules for this endpoint. */
      policyFile: c.MCP_POLICY_FILE ? resolve(c.MCP_POLICY_FILE) : undefined,
      auditLog: c.MCP_AUDIT_LOG === 'off' ? undefined : resolve(c.MCP_AUDIT_LOG ?? join(dataDir, 'mcp-audit.log')),
      auditStdout: c.MCP_AUDIT_STDOUT,
      /** Rotation, anchoring, what to do with a log that does not match, failure summaries (AUDIT_* settings). */
      audit: auditChainConfig(c),
      /** OpenTelemetry traces (main.ts starts the SDK); undefined when no OTLP endpoint is set. */
      tracing: tracingConfig(c),
      rateLimitPerMinute: c.RATE_LIMIT_PER_MINUTE,
      allowedOrigins: [...new Set([publicUrl.origin, ...list(c.MCP_ALLOWED_ORIGINS)])],
      tls: c.MCP_TLS_CERT && c.MCP_TLS_KEY ? { cert: resolve(c.MCP_TLS_CERT), key: resolve(c.MCP_TLS_KEY), ca: c.MCP_TLS_CA ? resolve(c.MCP_TLS_CA) : undefined } : undefined,
      mtlsRoleMap: parseRoleMap(c.MCP_MTLS_ROLE_MAP ?? '') ?? {},
      apiKey: c.MCP_API_KEY,
      revocationPollMs: c.REVOCATION_POLL_SECONDS * 1000,
      /**
       * Shared state for several instances: rate-limit counters and the revocation list live in Redis.
       * A revoked token is refused by every instance within 2 × revocationSyncMs (the advertised delay).
       */
      redis: c.REDIS_URL ? { url: c.REDIS_URL, keyPrefix: c.REDIS_KEY_PREFIX, revocationSyncMs: c.REDIS_REVOCATION_SYNC_MS } : undefined,
      bodyLimit: c.BODY_LIMIT_BYTES,
      /**
       * DPoP proofs at every server taking access tokens (RFC 9449 §7): server nonces when `nonce`
       * (derived from the key-encryption key, as the authorization server's), and how many live
       * proof `jti`s the in-process replay store holds without Redis (a new proof is refused with
       * 503 rather than one forgotten).
       */
      dpop: { nonce: c.MCP_DPOP_NONCE === 'on', replayMaxEntries: c.MCP_DPOP_REPLAY_MAX_ENTRIES },
      keyEncryptionKey: c.KEY_ENCRYPTION_KEY,
      previousKeyEncryptionKeys: list(c.KEY_ENCRYPTION_KEY_PREVIOUS),
      logLevel: c.LOG_LEVEL,
      /** The demo SQL tools: read workers (plus one for writes), time limits, memory and disk bounds. */
      sql: {
        workers: c.MCP_SQL_WORKERS,
        queryTimeoutMs: c.MCP_SQL_QUERY_TIMEOUT_MS,
        writeTimeoutMs: c.MCP_SQL_WRITE_TIMEOUT_MS,
        workerMemoryBytes: c.MCP_SQL_WORKER_MEMORY_MB * 1024 * 1024,
        demoDbMaxBytes: c.MCP_DEMO_DB_MAX_BYTES,
      },
    };
  });

export type McpConfig = Readonly<z.output<typeof schema>>;

/** Every environment setting the MCP server reads (deployment files are checked against it). */
export const mcpSettingNames: readonly string[] = Object.freeze(Object.keys(schema.in.shape));

/** Maps certificate names (CN or SHA-256 fingerprint) to roles: JSON `{"cn":"role"}` or `cn=role,cn2=role`. */
function parseRoleMap(raw: string): Record<string, Role> | undefined {
  if (raw.trim() === '') return {};
  let entries: [string, unknown][];
  try {
    entries = raw.trim().startsWith('{')
      ? Object.entries(JSON.parse(raw) as Record<string, unknown>)
      : raw.split(',').map((p) => p.trim()).filter(Boolean).map((p) => {
        const i = p.lastIndexOf('=');
        return [p.slice(0, i).trim(), p.slice(i + 1).trim()] as [string, unknown];
      });
  } catch {
    return undefined;
  }
  if (entries.some(([k, v]) => !k || !isRoleName(v))) return undefined;
  return Object.fromEntries(entries) as Record<string, Role>;
}

/** Command-line flags that override the environment: --auth-mode, --audit-log, --transport, --insecure. */
export function flagsToEnv(argv: string[]): Record<string, string> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'auth-mode': { type: 'string' },
      'audit-log': { type: 'string' },
      transport: { type: 'string' },
      insecure: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  const out: Record<string, string> = {};
  if (values['auth-mode'] !== undefined) out.MCP_AUTH_MODE = values['auth-mode'];
  if (values['audit-log'] !== undefined) out.MCP_AUDIT_LOG = values['audit-log'];
  if (values.transport !== undefined) out.MCP_TRANSPORT = values.transport;
  if (values.insecure) out.MCP_ALLOW_INSECURE_NO_AUTH = 'true';
  return out;
}

/** Validates MCP-server settings (environment names, then flags) once; throws ConfigError listing every problem. */
export function loadMcpConfig(env: Record<string, string | undefined>, argv: string[] = []): McpConfig {
  return loadConfig(schema, { ...env, ...flagsToEnv(argv) });
}

/** Insecure settings that are allowed outside production, to be printed loudly at start. */
export function configWarnings(c: McpConfig): string[] {
  const w: string[] = [];
  const metrics = metricsWarning(c.metrics, 'MCP_METRICS_PORT');
  if (metrics) w.push(metrics);
  if (c.authMode === 'none') w.push(`authentication is OFF (--auth-mode=none): every local caller acts as role '${c.noAuthRole}'. Never expose this server`);
  if (c.env !== 'production' && !c.publicUrl.startsWith('https://') && c.transport === 'http') w.push(`MCP_PUBLIC_URL ${c.publicUrl} is not https: acceptable for local development only`);
  return w;
}
