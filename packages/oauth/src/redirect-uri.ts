import { invalidRedirectUri } from './errors.ts';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** True for http URLs on a loopback host (RFC 8252 §7.3). */
export function isLoopbackRedirect(uri: string): boolean {
  try {
    const u = new URL(uri);
    return u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname);
  } catch {
    return false;
  }
}

/**
 * Validates a redirect URI for registration: absolute, https or loopback http (MCP 2026-07-28
 * security considerations), no fragment (RFC 6749 §3.1.2), no userinfo, at most 2000 characters.
 */
export function validateRedirectUri(uri: unknown): string {
  if (typeof uri !== 'string' || uri.length === 0) throw invalidRedirectUri("each of 'redirect_uris' must be a non-empty string");
  if (uri.length > 2000) throw invalidRedirectUri("a 'redirect_uris' entry is too long");
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw invalidRedirectUri(`'redirect_uris' entry is not an absolute URI: ${uri.slice(0, 100)}`);
  }
  if (uri.includes('#')) throw invalidRedirectUri("'redirect_uris' must not contain a fragment");
  if (u.username || u.password) throw invalidRedirectUri("'redirect_uris' must not contain user information");
  if (u.protocol === 'https:') return uri;
  if (u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname)) return uri;
  throw invalidRedirectUri("'redirect_uris' must use https, or http on a loopback host (127.0.0.1, [::1], localhost)");
}

/**
 * Exact redirect URI matching against registered values (RFC 9700 §4.1.3), except that for
 * loopback http URIs the port is ignored (RFC 8252 §7.3). Returns the matched requested URI or undefined.
 */
export function matchRedirectUri(registered: readonly string[], requested: string): string | undefined {
  if (registered.includes(requested)) return requested;
  if (!isLoopbackRedirect(requested)) return undefined;
  const req = new URL(requested);
  for (const r of registered) {
    if (!isLoopbackRedirect(r)) continue;
    const reg = new URL(r);
    if (reg.hostname === req.hostname && reg.pathname === req.pathname && reg.search === req.search) return requested;
  }
  return undefined;
}
