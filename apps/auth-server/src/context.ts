import type { AuditSink, FailureAggregator } from '@stack/audit';
import type { Kek } from '@stack/crypto';
import type { AuthConfig } from './config.ts';
import type { Argon2Slots } from './services/argon2-slots.ts';
import type { Tracer } from '@stack/telemetry';
import type { KeyStore } from './services/keys.ts';
import type { KeyRotationScheduler } from './services/key-rotation.ts';
import type { CimdFetchGuard } from './services/cimd-limits.ts';
import type { ClientKeyCache } from './services/client-keys.ts';
import type { ClientUse } from './services/client-use.ts';
import type { AssertionReplayStore } from '@stack/oauth';
import type { AuthStack } from './services/stack.ts';
import type { AuthStore } from './store/index.ts';
import type { LimiterFactory, WaitGateFactory } from '@stack/redis';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { TokenEndpointDpop } from './services/dpop.ts';
import type { FederationClients } from './services/federation-providers.ts';
import type { MfaLimiter } from './services/mfa-limiter.ts';
import type { AuthMetrics } from './services/metrics.ts';

/** Everything a route or service needs, built once per app by buildApp(). */
export interface AppContext {
  config: AuthConfig;
  /** The stack file: scopes, role caps, consent sentences and accepted resources (reloaded on SIGHUP). */
  stack: AuthStack;
  /** All persistent state (SQLite or PostgreSQL); services never see which. */
  store: AuthStore;
  audit: AuditSink;
  /** Unauthenticated failures (bad /authorize requests, failed client authentication): summarised per address. */
  auditFailures: FailureAggregator;
  /** Current time in ms; injectable so tests can move the clock. */
  now: () => number;
  /** keks[0] wraps new data; the rest can still open older envelopes (rotation). */
  keks: Kek[];
  keys: KeyStore;
  /** Scheduled signing-key rotation (SIGNING_KEY_ROTATION_DAYS); undefined when it is off. */
  keyRotation?: KeyRotationScheduler;
  /** DPoP proofs at the token endpoint (RFC 9449): replay cache (in process or Redis), nonces, key cache. */
  dpop: TokenEndpointDpop;
  /** Builds the abuse limiters: in process, or in Redis when REDIS_URL is set (shared by all instances). */
  limiters: LimiterFactory;
  /** Client ID Metadata Document fetch limits, slots, failure cache and fetches under way. */
  cimd: CimdFetchGuard;
  /** Per-key waits, in process or in Redis like `limiters`. */
  gates: WaitGateFactory;
  /** Failed client authentications per address (token, revocation and introspection endpoints). */
  clientAuthLimiter: RateLimiterAbstract;
  /** Failed second-factor attempts per account (TOTP, recovery and passkey checks). */
  mfaLimiter: MfaLimiter;
  /** Bounded slots for argon2 work (password checks, old-format client secrets). */
  argon2: Argon2Slots;
  /** The tracer of the app's own spans (client authentication, grants, argon2); undefined when tracing is off. */
  tracer: Tracer | undefined;
  /** Prometheus metrics (served by main.ts on the metrics listener). */
  metrics: AuthMetrics;
  /** jti of accepted client assertions (private_key_jwt), in process or in Redis like `limiters`. */
  assertionReplay: AssertionReplayStore;
  /** private_key_jwt clients' keys: inline jwks, or jwks_uri documents fetched with the SSRF guard and cached. */
  clientKeys: ClientKeyCache;
  /** Trusted enterprise IdPs' and workload issuers' jwks_uri documents (jwt-bearer grant), fetched and cached like clientKeys. */
  issuerKeys: ClientKeyCache;
  /** Upstream identity providers' client configurations (discovered on first use, cached). */
  federation: FederationClients;
  /** When each client was last issued a token, written at most once a minute per client. */
  clientUse: ClientUse;
}

declare module 'fastify' {
  interface FastifyInstance {
    ctx: AppContext;
  }
}
