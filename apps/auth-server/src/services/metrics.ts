import type { AuditEvent, AuditSink } from '@stack/audit';
import { boundedLabel, createAppMetrics, type AppMetrics } from '@stack/metrics';
import type { Argon2Slots } from './argon2-slots.ts';
import type { ClientRecord } from './clients.ts';

/**
 * The authorization server's Prometheus metrics. Most are read off the audit events as they are
 * written (one place sees every sign-in, refusal and token), so a new event is counted without
 * touching its route; tokens are counted where the token endpoint knows the client's type.
 * Label values come from code (event names, grant types) or from small fixed sets, never from
 * what a caller sends.
 */
export interface AuthMetrics {
  app: AppMetrics;
  /** An audit sink that counts each event, then writes it to `sink`. */
  counting(sink: AuditSink): AuditSink;
  /** Counts an event that went to the failure summariser (written in full or only summarised). */
  countEvent: (event: AuditEvent) => void;
  tokenIssued(grant: string, client: ClientRecord, tokenType: string): void;
  databaseAvailable(up: boolean): void;
}

export interface AuthMetricsDeps {
  argon2: Argon2Slots;
  /** Whether Redis answers, when REDIS_URL is set. */
  redisReady?: (() => boolean) | undefined;
}

/** Events that are outcomes of a sign-in attempt, and what they count as (also the admin overview's sign-ins). */
export const SIGN_IN: Readonly<Record<string, 'success' | 'failure'>> = {
  'login.succeeded': 'success',
  'login.failed': 'failure',
  'mfa.failed': 'failure',
  'federation.refused': 'failure',
};
const LOCKOUTS = new Set(['login.rate_limited', 'login.delayed', 'mfa.rate_limited']);

export function createAuthMetrics(deps: AuthMetricsDeps): AuthMetrics {
  const app = createAppMetrics('auth-server');
  const eventLabel = boundedLabel(200);
  const events = app.counter('auth_audit_events_total', 'Audit events written, by event name and decision.', ['event', 'decision'] as const);
  const signIns = app.counter('auth_sign_ins_total', 'Sign-in attempts by outcome and method (password, federation, second factor).', ['result', 'method'] as const);
  const lockouts = app.counter('auth_lockouts_total', 'Sign-ins refused or slowed down by the login limiter, by kind.', ['kind'] as const);
  const reuse = app.counter('auth_refresh_reuse_detected_total', 'Refresh tokens or authorization codes presented again after use (the family is revoked).', ['kind'] as const);
  const rateLimited = app.counter('auth_rate_limited_total', 'Requests refused by an abuse limit, by kind.', ['kind'] as const);
  const tokens = app.counter('auth_tokens_issued_total', 'Access tokens issued by grant type, client type, client registration and token type.', ['grant', 'client_type', 'registration', 'token_type'] as const);
  const database = app.gauge('auth_database_up', '1 while the database answers, 0 while it does not.', [] as const);
  database.set(1);
  app.gauge('auth_argon2_queue_depth', 'Password hashing work waiting for a slot.', [] as const, (g) => g.set(deps.argon2.state().waiting));
  app.gauge('auth_argon2_running', 'Password hashing work running now.', [] as const, (g) => g.set(deps.argon2.state().running));
  const redisReady = deps.redisReady;
  if (redisReady) app.gauge('auth_redis_up', '1 while Redis (REDIS_URL) answers, 0 while it does not.', [] as const, (g) => g.set(redisReady() ? 1 : 0));

  const method = (e: AuditEvent, name: string) => {
    const m = typeof e.method === 'string' ? e.method : '';
    // 'federation:<provider slug>' names an operator's provider: the kind of method is enough here.
    return m.startsWith('federation') ? 'federation' : ['password', 'totp', 'passkey', 'recovery_code'].includes(m) ? m : name.startsWith('mfa.') ? 'second_factor' : 'password';
  };
  const countEvent = (e: AuditEvent): void => {
    const name = typeof e.event === 'string' ? e.event : 'unknown';
    const decision = e.decision === 'allow' || e.decision === 'deny' ? e.decision : 'none';
    events.inc({ event: eventLabel(name), decision });
    const outcome = SIGN_IN[name];
    if (outcome) signIns.inc({ result: outcome, method: method(e, name) });
    if (LOCKOUTS.has(name)) lockouts.inc({ kind: name.slice(name.indexOf('.') + 1) });
    if (name === 'refresh.reuse_detected') reuse.inc({ kind: 'refresh_token' });
    if (name === 'code.reuse_detected') reuse.inc({ kind: 'authorization_code' });
    if (name.endsWith('.rate_limited')) rateLimited.inc({ kind: eventLabel(name) });
  };
  return {
    app,
    counting: (sink) => ({
      write(event) {
        countEvent(event);
        sink.write(event);
      },
    }),
    countEvent,
    tokenIssued(grant, client, tokenType) {
      tokens.inc({
        grant: eventLabel(grant),
        client_type: client.tokenEndpointAuthMethod === 'none' ? 'public' : 'confidential',
        registration: client.source,
        token_type: tokenType === 'DPoP' ? 'DPoP' : 'Bearer',
      });
    },
    databaseAvailable: (up) => database.set(up ? 1 : 0),
  };
}
