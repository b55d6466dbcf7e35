import { invalidTarget } from './errors.ts';

/** Parameters of an authorization response (RFC 6749 §4.1.2 / §4.1.2.1, RFC 9207 §2). */
export interface AuthorizationResponseParams {
  iss: string;
  code?: string | undefined;
  error?: string | undefined;
  error_description?: string | undefined;
  state?: string | undefined;
}

/**
 * Builds the redirect to a (verified) redirect URI. Existing query components of the redirect URI
 * are kept (RFC 6749 §3.1.2); `state` is returned exactly as received (OAuth 2.1 §4.1.2).
 */
export function authorizationResponseUrl(redirectUri: string, p: AuthorizationResponseParams): string {
  const url = new URL(redirectUri);
  for (const key of ['code', 'error', 'error_description', 'state', 'iss'] as const) {
    const v = p[key];
    if (v !== undefined) url.searchParams.set(key, v);
  }
  return url.toString();
}

/**
 * Normalises a resource indicator for comparison: lowercase scheme and host (URL parsing does
 * this), default port dropped, no trailing slash on the path. Returns undefined for anything that
 * is not an absolute http(s) URI without fragment (RFC 8707 §2).
 */
export function normaliseResource(uri: string): string | undefined {
  if (uri.length > 2000 || uri.includes('#')) return undefined;
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
  if (u.username || u.password) return undefined;
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
  return `${u.protocol}//${u.host}${path}${u.search}`;
}

/**
 * Picks the configured resource a request names (RFC 8707 §2). A missing, malformed or unknown
 * resource is an invalid_target error; the configured value is returned, so tokens carry the
 * canonical form as their audience.
 */
export function selectResource(allowed: readonly string[], requested: string | undefined): string {
  if (requested === undefined || requested === '') throw invalidTarget("missing required parameter 'resource'");
  const wanted = normaliseResource(requested);
  if (wanted === undefined) throw invalidTarget("'resource' must be an absolute http(s) URI without fragment");
  const match = allowed.find((r) => normaliseResource(r) === wanted);
  if (match === undefined) throw invalidTarget("'resource' is not a resource served by this authorization server");
  return match;
}
