import type { FastifyRequest } from 'fastify';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { addressLimitKey, consumeOr429, type LimiterFactory } from '@stack/redis';
import {
  CLIENT_ASSERTION_TYPE_JWT_BEARER, OAuthError, assertionClientId, invalidClient, invalidRequest, rateLimited, verifyClientAssertion,
} from '@stack/oauth';
import type { AuthConfig } from '../config.ts';
import type { AppContext } from '../context.ts';
import { verifyClientSecret } from './client-secrets.ts';
import { findClient, type ClientRecord } from './clients.ts';
import { inSpan } from '@stack/telemetry';

export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

export interface AuthenticatedClient {
  client: ClientRecord;
  method: ClientAuthMethod;
}

interface Presented {
  method: ClientAuthMethod;
  clientId: string;
  secret?: string;
  /** private_key_jwt: the client_assertion (RFC 7523 §2.2). */
  assertion?: string;
}

/**
 * RFC 9700 §4.1: failed client authentications are limited per address (never per client, which
 * would let anyone lock a client out), with the login limits. In Redis when REDIS_URL is set, so the
 * limit holds across instances. Built once per app (ctx.clientAuthLimiter).
 */
export function createClientAuthLimiter(login: AuthConfig['login'], limiters: LimiterFactory): RateLimiterAbstract {
  return limiters({ keyPrefix: 'client-auth', points: login.maxFailuresPerAddress, duration: login.windowSeconds });
}

/**
 * Reserves one failure for the address before anything is verified, so parallel requests cannot
 * overshoot the limit (each one past it is refused before its client is looked up or its secret
 * checked). The reservation is kept when the client fails to authenticate and given back otherwise.
 */
async function reserveAttempt(ctx: AppContext, addressKey: string): Promise<void> {
  await consumeOr429(ctx.clientAuthLimiter, addressKey, rateLimited);
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before being joined for the Basic header. */
function formDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw invalidClient('malformed basic credentials');
  }
}

function parseBasic(header: string): { clientId: string; secret: string } {
  if (header.length > 4096) throw invalidClient('authorization header is too long');
  const b64 = header.slice(6).trim();
  if (!/^[A-Za-z0-9+/]+=*$/.test(b64)) throw invalidClient('malformed basic credentials');
  const decoded = Buffer.from(b64, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw invalidClient('malformed basic credentials');
  return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
}

/**
 * RFC 7523 §2.2 / RFC 7521 §4.2: client_assertion_type and client_assertion together; client_id is
 * optional (the SDK's PrivateKeyJwtProvider sends none), and then the assertion's sub names the client
 * whose keys are looked up (verifyClientAssertion checks iss = sub = that client).
 */
function presentedAssertion(params: Record<string, string>): Presented {
  if (params.client_assertion_type !== CLIENT_ASSERTION_TYPE_JWT_BEARER) throw invalidClient("unsupported or missing 'client_assertion_type'");
  const assertion = params.client_assertion;
  if (!assertion) throw invalidClient("missing 'client_assertion'");
  const clientId = params.client_id ?? assertionClientId(assertion);
  if (!clientId) throw invalidClient('client assertion is malformed');
  return { method: 'private_key_jwt', clientId, assertion };
}

/** Works out which one method the request uses; two at once is invalid_request (OAuth 2.1 §2.4). */
function presentedCredentials(request: FastifyRequest, params: Record<string, string>): Presented {
  const auth = request.headers.authorization;
  const basic = typeof auth === 'string' && /^basic /i.test(auth) ? parseBasic(auth) : undefined;
  const assertion = params.client_assertion !== undefined || params.client_assertion_type !== undefined;
  if (assertion) {
    if (basic || params.client_secret !== undefined) throw invalidRequest('client authentication must use only one method: a client assertion or a secret, not both');
    return presentedAssertion(params);
  }
  if (basic) {
    if (params.client_secret !== undefined) throw invalidRequest('client authentication must use only one method: basic or client_secret, not both');
    if (params.client_id !== undefined && params.client_id !== basic.clientId) throw invalidRequest("'client_id' does not match the authenticated client");
    return { method: 'client_secret_basic', clientId: basic.clientId, secret: basic.secret };
  }
  const clientId = params.client_id;
  if (!clientId) throw invalidClient("client authentication is missing: send 'client_id' (and a secret if the client has one)");
  if (params.client_secret !== undefined) return { method: 'client_secret_post', clientId, secret: params.client_secret };
  return { method: 'none', clientId };
}

/** Whether the request carries any client authentication (header or form), well-formed or not. */
export function presentsClientCredentials(request: FastifyRequest, params: Record<string, string>): boolean {
  return request.headers.authorization !== undefined || ['client_id', 'client_secret', 'client_assertion', 'client_assertion_type'].some((k) => Object.hasOwn(params, k));
}

/** True when the secret matches; a hash in the old (argon2) format is replaced on success. */
async function verifySecret(ctx: AppContext, client: ClientRecord, secret: string): Promise<boolean> {
  if (client.secretHash === null || secret.length === 0 || secret.length > 512) return false;
  const check = await verifyClientSecret(ctx.argon2, client.secretHash, secret);
  // Conditional on the old hash, so a secret changed in the meantime is never overwritten.
  if (check.ok && check.rehash !== undefined) await ctx.store.clients.replaceSecretHash(client.id, client.secretHash, check.rehash);
  return check.ok;
}

/**
 * private_key_jwt (RFC 7523 §2.2, §3): signed by one of the client's registered keys, aud this server
 * (its issuer identifier, or its token endpoint as RFC 7523 §3 allows), short-lived, jti never
 * accepted twice (ctx.assertionReplay: shared through Redis when configured).
 */
async function verifyAssertion(ctx: AppContext, client: ClientRecord, assertion: string): Promise<void> {
  const { issuer } = ctx.config;
  await verifyClientAssertion(assertion, {
    clientId: client.id, keys: ctx.clientKeys.keysFor(client), audiences: [issuer, `${issuer}/token`], now: ctx.now(),
  }, ctx.assertionReplay);
}

/**
 * Authenticates the client of a token, revocation or introspection request (OAuth 2.1 §2.4, RFC 6749
 * §2.3.1). The method used must be the one the client registered; failures are 401 invalid_client
 * (the error handler adds `WWW-Authenticate: Basic`) and are audited.
 */
export function authenticateClient(ctx: AppContext, request: FastifyRequest, params: Record<string, string>): Promise<AuthenticatedClient> {
  if (!ctx.tracer) return authenticate(ctx, request, params);
  return inSpan(ctx.tracer, 'auth.client_authentication', undefined, async (span) => {
    const authenticated = await authenticate(ctx, request, params);
    // The method (a fixed set), never the client's id or credential.
    span?.setAttribute('oauth.client_auth_method', authenticated.method);
    return authenticated;
  });
}

async function authenticate(ctx: AppContext, request: FastifyRequest, params: Record<string, string>): Promise<AuthenticatedClient> {
  const addressKey = addressLimitKey(request.ip);
  await reserveAttempt(ctx, addressKey);
  let presented: Presented | undefined;
  let authenticated: AuthenticatedClient;
  try {
    presented = presentedCredentials(request, params);
    const client = await findClient(ctx, presented.clientId, request.ip);
    if (!client) throw invalidClient('client authentication failed');
    if (client.tokenEndpointAuthMethod !== presented.method) {
      throw invalidClient(`client authentication failed: this client must use ${client.tokenEndpointAuthMethod}`);
    }
    if (presented.method === 'private_key_jwt') await verifyAssertion(ctx, client, presented.assertion!);
    else if (presented.method !== 'none') {
      if (!(await verifySecret(ctx, client, presented.secret ?? ''))) throw invalidClient('client authentication failed');
    }
    authenticated = { client, method: presented.method };
  } catch (err) {
    // Only a failed authentication counts; a malformed request or a busy server gives the point back.
    if (!(err instanceof OAuthError && err.code === 'invalid_client')) await ctx.clientAuthLimiter.reward(addressKey).catch(() => {});
    // Anyone can send these: summarised per address beyond the first few of an interval.
    ctx.auditFailures.write(addressKey, 'client.auth_failed', {
      event: 'client.auth_failed',
      client: presented?.clientId.slice(0, 200),
      method: presented?.method,
      address: request.ip,
      endpoint: request.routeOptions.url,
      decision: 'deny',
      reason: err instanceof Error ? err.message : 'error',
    });
    throw err;
  }
  await ctx.clientAuthLimiter.reward(addressKey);
  return authenticated;
}
