import { invalidRedirectUri } from './errors.ts';

/**
 * A loopback redirect URI as written, never as a URL parser would rewrite it: scheme `http`, host
 * exactly `127.0.0.1`, `[::1]` or `localhost` (RFC 8252 §7.3, §8.3), an optional decimal port, then
 * path and query. No user information, no fragment (RFC 6749 §3.1.2), no backslash, space or
 * control character. A WHATWG parser would turn `127.1`, `0x7f000001`, `2130706433`, `0177.0.0.1`,
 * `[0::1]` or `HTTP://LOCALHOST` into one of the three hosts, and drop an empty trailing `#`; those
 * forms are refused here, at registration and at /authorize alike, so both accept the same set.
 */
// eslint-disable-next-line no-control-regex -- a loopback URI with a control character is refused
const LOOPBACK = /^http:\/\/(127\.0\.0\.1|\[::1\]|localhost)(?::([1-9][0-9]{0,4}))?((?:[/?][^#\\\s\u0000-\u001f\u007f]*)?)$/;

interface LoopbackParts {
  host: string;
  /** Path and query exactly as written (may be empty). */
  rest: string;
}

function loopbackParts(uri: string): LoopbackParts | undefined {
  const m = LOOPBACK.exec(uri);
  if (!m) return undefined;
  if (m[2] !== undefined && Number(m[2]) > 65535) return undefined;
  return { host: m[1]!, rest: m[3]! };
}

/** True for a loopback http redirect URI in the one form this server accepts (RFC 8252 §7.3). */
export function isLoopbackRedirect(uri: string): boolean {
  return loopbackParts(uri) !== undefined;
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
  if (u.username || u.password || /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(uri)) {
    throw invalidRedirectUri("'redirect_uris' must not contain user information");
  }
  if (u.protocol === 'https:') return uri;
  if (isLoopbackRedirect(uri)) return uri;
  if (u.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname.replace(/\.$/, ''))) {
    throw invalidRedirectUri("an http 'redirect_uris' entry must be written http://127.0.0.1, http://[::1] or http://localhost, then an optional port and a path");
  }
  throw invalidRedirectUri("'redirect_uris' must use https, or http on a loopback host (127.0.0.1, [::1], localhost)");
}

function registrable(uri: string): boolean {
  try {
    validateRedirectUri(uri);
    return true;
  } catch {
    return false;
  }
}

/**
 * Exact redirect URI matching against registered values (RFC 9700 §4.1.3), except that for
 * loopback http URIs the port may differ (RFC 8252 §7.3). Both sides are compared as written:
 * scheme and host must be the same literal, path and query the same characters. A value stored
 * before registration was as strict as it is now matches only if registration would accept it
 * today. Returns the matched requested URI or undefined.
 */
export function matchRedirectUri(registered: readonly string[], requested: string): string | undefined {
  if (registered.includes(requested)) return registrable(requested) ? requested : undefined;
  const req = loopbackParts(requested);
  if (!req) return undefined;
  for (const r of registered) {
    const reg = loopbackParts(r);
    if (reg && reg.host === req.host && reg.rest === req.rest) return requested;
  }
  return undefined;
}
