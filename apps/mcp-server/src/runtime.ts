import { FailureAggregator, withTraceId, type AuditLog, type AuditSink } from '@stack/audit';
import { activeTraceId, appTracer, type Tracer, type TracerProvider } from '@stack/telemetry';
import { loadKeks } from '@stack/crypto';
import { createApiKeyStore, createJwtVerifier, createRevocationPoller, defaultRoleScopes, stackRoleScopes, type ApiKeyRecords, type RevocationList, type RoleScopes } from '@stack/mcp-auth';
import type { AuthMethod, DpopMode, StackConfig } from '@stack/stack-config';
import type { JtiStore } from '@stack/oauth';
import type { McpConfig } from './config.ts';
import { dataDirWarnings } from './data-dir.ts';
import { createPolicyHolder, loadPolicyFile, readStackFile, stackPolicy, type Policy, type PolicyHolder } from './policy.ts';
import type { ToolDefinition } from './tools/types.ts';
import { checkConfiguredRoles, createAuthenticator, serverAccepts, type Accepts, type Authenticator } from './pipeline/authenticate.ts';
import { createAppDpop, type ResourceDpop } from './pipeline/dpop.ts';
import { createAuditor, type Auditor } from './pipeline/audit.ts';
import { openMcpAuditLog } from './pipeline/audit-log.ts';
import { createLimiterRateLimitStore, createMemoryRateLimitStore, createRateLimits, type RateLimitStore } from './pipeline/rate-limit.ts';
import { connectRedis, redisLimiters, type RedisLog, type SharedRedis } from '@stack/redis';
import { createRedisRevocations, type RedisRevocations } from './shared-state/redis-revocations.ts';
import { prepareTools, visibleTools, type GateContext } from './pipeline/gate.ts';
import { createServerFactory, type SessionSource } from './mcp-server-factory.ts';
import type { Server } from '@modelcontextprotocol/server';
import type { InFlightLimits } from './http/in-flight.ts';
import { createMcpMetrics, type McpMetrics } from './metrics.ts';
import { openMcpStore, type McpStore } from './store/index.ts';

export const VERSION = '0.1.0';

/**
 * How long a 2026-07-28 client may reuse a tools/list (or server/discover) result. The policy is
 * reloaded on demand (SIGHUP), so a change reaches a caching client within this time.
 */
export const LIST_TTL_MS = 30_000;

/** Overrides for tests and embedding; everything defaults from config. */
export interface BuildDeps {
  /** Tool definitions; defaults to the demo database tools. */
  tools?: readonly ToolDefinition[];
  /** Audit sink; defaults to the hash-chained file (and stdout) from config. */
  audit?: AuditSink;
  /** Policy; defaults to the file named in config (reloadable). */
  policy?: Policy;
  rateLimitStore?: RateLimitStore;
  /** Revocation list; defaults to polling the authorization server's feed. */
  revocations?: RevocationList;
  /** Used for JWKS and revocation fetches (tests count outbound requests). */
  fetch?: typeof fetch;
  now?: () => number;
  /** Fastify logger option; defaults to config.logLevel. */
  logger?: boolean | object;
  /** HTTP: limits on responses held for clients (http/in-flight.ts has the defaults). */
  inFlightLimits?: Partial<InFlightLimits>;
  /** What `${env:NAME}` in the stack file's upstream headers and env reads (main.ts passes process.env; default none). */
  environment?: Readonly<Record<string, string | undefined>>;
  /** Where accepted DPoP proofs' `jti`s are kept; defaults to Redis when configured, else a bounded in-process store. */
  dpopReplay?: JtiStore;
  /** A started tracing SDK's provider (main.ts, when an OTLP endpoint is set); without it no span is made. */
  tracing?: { tracerProvider: TracerProvider };
}

/**
 * The transport-independent pipeline: authentication, rate limits, authorization, audit and tools.
 * The HTTP app's context (app.mcp) is this object; stdio uses it as it is.
 */
export interface Runtime {
  config: McpConfig;
  policy: PolicyHolder;
  authenticator: Authenticator;
  audit: Auditor;
  gate: GateContext;
  /** A new SDK server whose handlers learn each request's caller from `sessions`. */
  newServer: (sessions: SessionSource) => Server;
  /**
   * An authenticator for one server: the methods `auth` names (MCP_AUTH_MODE when undefined, and
   * mtls or none whatever it names), its access tokens those issued for `audience` (also every
   * DPoP proof's `htu`), DPoP-bound ones only when `dpop` is required.
   */
  authenticatorFor: (audience: string, auth?: readonly AuthMethod[], dpop?: DpopMode) => Authenticator;
  /**
   * The app's own state (API keys, secrets, audit anchors): SQLite, opened on first use, or with
   * DATABASE_URL PostgreSQL, opened at start.
   */
  store: () => Promise<McpStore>;
  /** The stack file as read at start or last reloaded (read on first call when nothing at start needed it). */
  stack: () => StackConfig;
  /** Makes a stack file read again current (stack-reload.ts): `builtin` for the built-in tools, its role scopes for every authentication from now on. */
  useStack(next: StackConfig, builtin: Policy): void;
  /** The Redis connection when REDIS_URL is set (readiness reports its state). */
  sharedStore: SharedRedis | undefined;
  /** Prometheus metrics (main.ts serves them on the metrics listener over HTTP). */
  metrics: McpMetrics;
  /** The tracer of the app's own spans (authenticate, policy, rate limit, tool, upstream); undefined when tracing is off. */
  tracer: Tracer | undefined;
  /** Starts background work (revocation polling), after waiting briefly for Redis when it is configured. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Where the runtime reports; warn is for start-up findings such as data files open to other users. */
export type RuntimeLog = RedisLog & { warn(message: string): void };

// Standard output is the protocol in stdio mode, so the default log is standard error.
const stderrLog: RuntimeLog = {
  error: (m) => console.error(`[ERROR] ${m}`),
  info: (m) => console.error(`[OK] ${m}`),
  warn: (m) => console.error(`[WARN] ${m}`),
};

/** The built-in server's stack-file entry (undefined when it has none). */
const builtinEntry = (stack: StackConfig) => stack.servers.find((s) => s.upstream.kind === 'builtin');
/** The built-in server's `auth` in the stack file (undefined when it has no entry or the entry names none). */
const builtinAuth = (stack: StackConfig) => builtinEntry(stack)?.auth;

export async function createRuntime(config: McpConfig, deps: BuildDeps = {}, log: RuntimeLog = stderrLog): Promise<Runtime> {
  // Before anything is created: what is already there with a mode open to other users.
  for (const w of dataDirWarnings(config)) log.warn(w);
  const now = deps.now ?? Date.now;
  const closers: (() => unknown)[] = [];

  let tools = deps.tools;
  if (!tools) {
    const { createDemoTools } = await import('./tools/index.ts');
    const demo = createDemoTools({
      databasePath: config.demoDatabasePath,
      sqlWorkers: config.sql.workers,
      queryTimeoutMs: config.sql.queryTimeoutMs,
      writeTimeoutMs: config.sql.writeTimeoutMs,
      workerMemoryBytes: config.sql.workerMemoryBytes,
      maxBytes: config.sql.demoDbMaxBytes,
    });
    closers.push(() => demo.close());
    tools = demo.tools;
  }
  const toolNames = tools.map((t) => t.name);
  // stdio: the local process is the boundary and the identity comes from an API key.
  const mode = config.transport === 'stdio' ? 'apikey' : config.authMode;
  // The stack file as read at start (once, whoever needs it first): the built-in rules, the
  // scopes of each role and the gateway servers. A reload (SIGHUP, stack-reload.ts) replaces it.
  let stackAtStart: StackConfig | undefined;
  const stack = () => (stackAtStart ??= readStackFile(config.stackFile, config.env));
  const policyFile = config.policyFile;
  const loadPolicy = (read: () => StackConfig) => (policyFile ? loadPolicyFile(policyFile) : stackPolicy(read(), config.mcpPath, toolNames));
  let policyHolder;
  let roleScopes: RoleScopes;
  try {
    policyHolder = createPolicyHolder(deps.policy ?? loadPolicy(stack), () => loadPolicy(() => readStackFile(config.stackFile, config.env)));
    // The roles that exist and what each may hold, from the stack file in force (a role it does not
    // declare is refused); the built-in table when a policy file replaces it.
    roleScopes = policyFile ? defaultRoleScopes : stackRoleScopes(stack);
    checkConfiguredRoles(mode, { ...config, roleScopes });
  } catch (err) {
    for (const close of closers) await close();
    throw err;
  }

  let opening: Promise<McpStore> | undefined;
  const dbLog = {
    unavailable: (err: unknown) => log.error(`database unavailable, refusing requests that need it: ${(err as Error).message.split('\n')[0]}`),
    recovered: () => log.info('database reachable again'),
  };
  const store = () => (opening ??= openMcpStore(config, dbLog).then((opened) => {
    closers.push(() => opened.close());
    return opened;
  }, (err: unknown) => {
    // Tried again by the next caller: a database that was down at one request may be up at the next.
    opening = undefined;
    throw err;
  }));
  // Each key check reads the key's row (no cache): a key revoked through any instance or the CLI is
  // refused by every instance from its next request on.
  const apiKeyRecords: ApiKeyRecords = {
    insert: async (row) => (await store()).apiKeys.insert(row),
    get: async (id) => (await store()).apiKeys.get(id),
    revoke: async (id, at) => (await store()).apiKeys.revoke(id, at),
    list: async () => (await store()).apiKeys.list(),
  };

  // The audit log is checked against its anchors (in the store) before anything is served. Standard
  // output carries the protocol in stdio mode (config refuses the stdout settings there).
  let ownAudit: AuditLog | undefined;
  if (!deps.audit || config.postgres) {
    try {
      // PostgreSQL is opened (and migrated) at start, so an unreachable database stops the start.
      const opened = await store();
      if (!deps.audit) ownAudit = await openMcpAuditLog(config, opened.auditAnchors, { stream: process.stdout, onError: (err) => log.error(`audit anchor not recorded (the log itself is unaffected): ${(err as Error).message}`) });
    } catch (err) {
      for (const c of closers.reverse()) await c();
      throw err;
    }
  }
  const tracer = deps.tracing ? appTracer(deps.tracing.tracerProvider, 'mcp-server') : undefined;
  // With tracing on, each line names its request's trace (trace_id).
  const sink: AuditSink = tracer ? withTraceId(deps.audit ?? ownAudit!, activeTraceId) : deps.audit ?? ownAudit!;
  // Requests without valid credentials: the first few per address and interval in full, then counted.
  const failures = new FailureAggregator({ sink, intervalMs: config.audit.failureIntervalMs });
  // Closed before the database (closers run in reverse): summaries written, the chain's head anchored.
  closers.push(async () => {
    failures.close();
    await ownAudit?.close();
  });
  // Prometheus metrics: served over HTTP by main.ts's metrics listener (none on stdio).
  const metrics = createMcpMetrics(now);
  const audit = createAuditor(sink, failures, metrics.decision);
  const fetchFn = metrics.countingFetch(deps.fetch ?? fetch, { jwks: config.jwksUrl, revocations: config.revocationsUrl });

  // What each server accepts (over HTTP its stack entry's auth, else MCP_AUTH_MODE): the JWT
  // verifier and the revocation list exist when one takes access tokens, the key store when one takes keys.
  let accepted: Accepts[];
  try {
    accepted = config.transport === 'stdio' ? [serverAccepts(mode, undefined)] : [builtinAuth(stack()), ...stack().servers.filter((s) => s.upstream.kind !== 'builtin').map((s) => s.auth)].map((auth) => serverAccepts(mode, auth));
  } catch (err) {
    for (const c of closers.reverse()) await c();
    throw err;
  }
  const anyOauth = accepted.some((a) => typeof a !== 'string' && a.includes('oauth'));

  // REDIS_URL: counters and the revocation list are shared by every instance (closed last, after its users).
  let redis: SharedRedis | undefined;
  if (config.redis) {
    const shared = connectRedis({ url: config.redis.url, keyPrefix: `${config.redis.keyPrefix}mcp:`, log });
    redis = shared;
    closers.push(() => shared.close());
  }

  let poller: ReturnType<typeof createRevocationPoller> | undefined;
  let sharedRevocations: RedisRevocations | undefined;
  let revocations = deps.revocations;
  // REVOCATION_POLL_SECONDS=0 turns revocation checks off with or without Redis.
  if (anyOauth && !revocations && config.revocationPollMs > 0) {
    if (redis && config.redis) {
      const shared = createRedisRevocations({ redis, feedUrl: config.revocationsUrl, syncMs: config.redis.revocationSyncMs, log, fetch: fetchFn });
      sharedRevocations = shared;
      revocations = shared;
      closers.push(() => shared.stop());
    } else {
      poller = createRevocationPoller({ url: config.revocationsUrl, intervalMs: config.revocationPollMs, now, fetch: fetchFn });
      revocations = poller;
      closers.push(() => poller?.stop());
    }
  }

  // DPoP proofs (RFC 9449 §7): one replay store (Redis when REDIS_URL is set), key cache and nonce
  // source for every server, so a proof is accepted once whichever path or instance it is replayed to.
  let dpop: ResourceDpop | undefined;
  const dpopChecks = () => (dpop ??= createAppDpop(config.dpop, {
    now,
    redis,
    replay: deps.dpopReplay,
    keyEncryptionKey: () => loadKeks({ key: config.keyEncryptionKey, previous: config.previousKeyEncryptionKeys, dataDir: config.dataDir, production: config.env === 'production' })[0]!.key,
  }));

  // One per protected server: a token is accepted only by the server it was issued for (RFC 8707),
  // and only the methods the server's stack entry names (serverAccepts).
  const authenticatorFor = (audience: string, auth?: readonly AuthMethod[], dpopMode: DpopMode = 'allowed') => {
    const accepts = config.transport === 'stdio' ? mode : serverAccepts(mode, auth);
    const methods = typeof accepts === 'string' ? [accepts] : accepts;
    return createAuthenticator(accepts, {
      ...(methods.includes('oauth')
        ? {
          jwt: createJwtVerifier({ issuer: config.issuer, audience, jwksUrl: config.jwksUrl, now, roleScopes, ...(revocations ? { revocations } : {}), fetch: fetchFn }),
          dpop: { mode: dpopMode, checks: dpopChecks() },
          resourceUrl: audience,
        }
        : {}),
      ...(methods.includes('apikey') ? { apiKeys: createApiKeyStore(apiKeyRecords, now, roleScopes) } : {}),
      mtlsRoleMap: config.mtlsRoleMap,
      noAuthRole: config.noAuthRole,
      roleScopes,
    });
  };
  const builtin = config.transport === 'stdio' ? undefined : builtinEntry(stack());
  const authenticator = authenticatorFor(config.publicUrl, builtin?.auth, builtin?.dpop);

  const prepared = prepareTools(tools);
  const gate: GateContext = {
    policy: () => policyHolder.current(),
    limits: createRateLimits(deps.rateLimitStore ?? (redis ? createLimiterRateLimitStore(redisLimiters(redis)) : createMemoryRateLimitStore()), config.rateLimitPerMinute),
    audit,
    tools: prepared,
  };
  return {
    config,
    policy: policyHolder,
    authenticator,
    authenticatorFor,
    store,
    stack,
    useStack(next, builtin) {
      stackAtStart = next;
      policyHolder.replace(builtin);
    },
    audit,
    gate,
    newServer: createServerFactory({ tools: prepared, visibleTools: (identity) => visibleTools(gate, identity), audit, version: VERSION, listTtlMs: LIST_TTL_MS, tracer }),
    sharedStore: redis,
    metrics,
    tracer,
    async start() {
      // Requests before Redis answers get 503 (fail closed); a short wait spares the first ones.
      if (redis) await redis.waitUntilReady(2_000);
      poller?.start();
      sharedRevocations?.start();
    },
    async close() {
      for (const c of closers.reverse()) await c();
    },
  };
}
