import {
  OAuthError, accessDenied, checkCodeChallenge, intersectScopes,
  invalidClient, invalidRequest, invalidScope, invalidTarget, matchRedirectUri, parseScope, selectResource,
  unauthorizedClient, type Role,
} from '@stack/oauth';
import type { StackConfig } from '@stack/stack-config';
import type { AppContext } from '../context.ts';
import { findClient, type ClientRecord } from './clients.ts';

/** Raw query parameters as Fastify parsed them: a repeated parameter is an array. */
export type RawParams = Record<string, string | string[] | undefined>;

/** A validated authorization request, kept server-side while the user logs in and decides. */
export interface AuthorizationRequest {
  clientId: string;
  clientName: string;
  /** For a Client ID Metadata Document client, the host publishing it (shown on the consent page). */
  clientHost: string | undefined;
  /** The verified redirect URI (the requested one; for loopback, with the requested port). */
  redirectUri: string;
  /** Returned unchanged; undefined when absent (or repeated, so unusable). */
  state: string | undefined;
  codeChallenge: string;
  resource: string;
  /** Requested scopes the client may have; the user's role narrows them later. */
  scopes: string[];
  /**
   * A remembered consent may answer this request without the consent screen (RFC 8252 §8.6).
   * Absent in requests stored before the field existed, which reads as false: the screen is shown.
   */
  identityAssured?: boolean;
  /** Errors may be redirected to the client before the person has interacted (RFC 9700 §4.11.2). */
  trustedRedirect?: boolean;
  /** RFC 9449 §10: the code is bound to this DPoP key thumbprint (`dpop_jkt`); absent when not sent. */
  dpopJkt?: string;
}

export interface VerifiedClient {
  client: ClientRecord;
  redirectUri: string;
}

function single(raw: RawParams, name: string): string | undefined {
  const v = raw[name];
  if (Array.isArray(v)) throw invalidRequest(`parameter '${name}' is included more than once`);
  if (v !== undefined && v.length > 4096) throw invalidRequest(`parameter '${name}' is too long`);
  return v;
}

/**
 * Step 1: the client and its redirect URI. Errors here MUST NOT be redirected (OAuth 2.1
 * §4.1.2.1, RFC 9700 §4.11): the caller shows them to the user instead. `address` is the
 * requester's, for the limits on metadata document fetches.
 */
export async function verifyClientAndRedirect(ctx: AppContext, raw: RawParams, address: string): Promise<VerifiedClient> {
  const clientId = single(raw, 'client_id');
  if (!clientId) throw invalidRequest("missing required parameter 'client_id'");
  const client = await findClient(ctx, clientId, address);
  if (!client) throw invalidClient('unknown client');
  const requested = single(raw, 'redirect_uri');
  if (requested === undefined) {
    // OAuth 2.1 §4.1.1: redirect_uri may be omitted only when exactly one is registered.
    if (client.redirectUris.length === 1) return { client, redirectUri: client.redirectUris[0]! };
    throw invalidRequest("missing required parameter 'redirect_uri'");
  }
  const redirectUri = matchRedirectUri(client.redirectUris, requested);
  if (!redirectUri) throw invalidRequest("'redirect_uri' does not match any redirect URI registered for this client");
  return { client, redirectUri };
}

/** The state to echo in an error redirect: only when sent exactly once. */
export function stateOf(raw: RawParams): string | undefined {
  const v = raw.state;
  return typeof v === 'string' && v.length <= 4096 ? v : undefined;
}

/** An RFC 7638 SHA-256 JWK thumbprint, base64url without padding (RFC 9449 §10 `dpop_jkt`). */
const JKT = /^[A-Za-z0-9_-]{43}$/;

function dpopJkt(raw: RawParams): string | undefined {
  const v = single(raw, 'dpop_jkt');
  if (v === undefined) return undefined;
  if (!JKT.test(v)) throw invalidRequest("'dpop_jkt' must be a base64url SHA-256 JWK thumbprint");
  return v;
}

function requestedScopes(supported: readonly string[], client: ClientRecord, scope: string | undefined, resourceScopes: readonly string[]): string[] {
  const clientScopes = parseScope(client.scope);
  // An omitted scope means the client's registered scopes (RFC 6749 §3.3 default), those the
  // requested server uses: a token for one server carries no other server's scopes, and the
  // consent screen does not ask for them. A client registered for none of them keeps all its own.
  const usedHere = clientScopes.filter((s) => resourceScopes.includes(s));
  const byDefault = usedHere.length ? usedHere : clientScopes;
  let asked: string[];
  try {
    asked = scope === undefined || scope.trim() === '' ? byDefault : parseScope(scope);
  } catch (err) {
    throw err instanceof OAuthError ? invalidScope(err.description) : err;
  }
  // offline_access (OIDC §11) is not advertised: refresh tokens follow the client's grant_types.
  // MCP lets clients ask for it; ignoring it beats failing them.
  asked = asked.filter((s) => s !== 'offline_access');
  if (asked.length === 0) asked = byDefault;
  const unknown = asked.find((s) => !supported.includes(s));
  if (unknown !== undefined) throw invalidScope(`unknown scope '${unknown.slice(0, 50)}'`);
  const allowed = intersectScopes(asked, clientScopes);
  if (allowed.length === 0) throw invalidScope('the client may not request any of the requested scopes');
  return allowed;
}

/**
 * Step 2: everything else. Errors here go back to the verified redirect URI with `error`,
 * `state` and `iss`. PKCE S256 is required, never defaulted (OAuth 2.1 §4.1.1).
 */
export function validateAuthorizationRequest(ctx: AppContext, raw: RawParams, v: VerifiedClient): AuthorizationRequest {
  // OAuth 2.1 §3.1: parameters MUST NOT be repeated. `resource` may legally repeat (RFC 8707 §2),
  // but this server issues single-audience tokens, so that is reported as invalid_target below.
  for (const [name, value] of Object.entries(raw)) {
    if (Array.isArray(value) && name !== 'resource') throw invalidRequest(`parameter '${name}' is included more than once`);
  }
  const responseType = single(raw, 'response_type');
  if (!responseType) throw invalidRequest("missing required parameter 'response_type'");
  if (responseType !== 'code') throw new OAuthError('unsupported_response_type', "'response_type' must be 'code'");
  if (!v.client.grantTypes.includes('authorization_code')) throw unauthorizedClient('the client is not registered for the authorization_code grant');
  const mode = single(raw, 'response_mode');
  if (mode !== undefined && mode !== 'query') throw invalidRequest("'response_mode' must be 'query'");
  const codeChallenge = checkCodeChallenge(single(raw, 'code_challenge'), single(raw, 'code_challenge_method'));
  if (Array.isArray(raw.resource)) throw invalidTarget("only one 'resource' may be requested");
  const resource = selectResource(ctx.stack.resources(), single(raw, 'resource'));
  const scopes = requestedScopes(ctx.stack.scopes(), v.client, single(raw, 'scope'), ctx.stack.scopesFor(resource));
  const jkt = dpopJkt(raw);
  return {
    clientId: v.client.id,
    clientName: v.client.clientName,
    clientHost: v.client.source === 'cimd' ? new URL(v.client.id).host : undefined,
    redirectUri: v.redirectUri,
    state: single(raw, 'state'),
    codeChallenge,
    resource,
    scopes,
    identityAssured: identityAssured(v.client, v.redirectUri),
    trustedRedirect: trustsRedirectUris(v.client),
    ...(jkt === undefined ? {} : { dpopJkt: jkt }),
  };
}

/**
 * RFC 8252 §8.6: a request SHOULD NOT be processed without user interaction (here: a remembered
 * consent skipping the screen) unless the client's identity can be assured, even when the user
 * approved this client_id before. It is assured only for a client that authenticates at the token
 * endpoint and receives the code at one of its https redirect URIs. A public client proves nothing:
 * anyone can send its client_id with their own PKCE challenge, and a loopback redirect matches any
 * port (RFC 8252 §7.3), so any local process could collect a code meant for a native client; a
 * public client's code leaked from an https callback is redeemable by whoever started the flow.
 * Every other client sees the consent screen each time.
 */
export function identityAssured(client: ClientRecord, redirectUri: string): boolean {
  return client.tokenEndpointAuthMethod !== 'none' && new URL(redirectUri).protocol === 'https:';
}

/**
 * RFC 9700 §4.11.2: the AS MUST only redirect automatically to a redirect URI it trusts. Those of
 * operator-registered clients are; those of self-registered (RFC 7591) and metadata-document
 * clients are whatever their author chose, so an error before any user interaction is shown on our
 * page with a link instead (otherwise anyone could register https://evil.example and use
 * /authorize?response_type=x as an open redirector).
 */
export function trustsRedirectUris(client: ClientRecord): boolean {
  return client.source === 'admin';
}

/**
 * The scopes a user can grant: the request (already capped by the client) narrowed by the scopes
 * the stack file lets the user's role be granted. A role the file does not declare (taken out
 * while users still hold it) grants nothing.
 */
export function grantableScopes(stack: StackConfig, req: AuthorizationRequest, role: Role): string[] {
  if (!stack.roles.includes(role)) throw accessDenied("your account's role is not one this server grants access for; ask an administrator");
  const scopes = intersectScopes(req.scopes, stack.scopesForRole(role));
  if (scopes.length === 0) throw accessDenied('your role does not allow any of the requested scopes');
  return scopes;
}
