import type { IncomingHttpHeaders } from 'node:http';

/** Shortest time a fetched document is kept, even when it says no-store: every use would refetch it otherwise. */
export const MIN_CACHE_SECONDS = 60;
/** Lifetime when the response carries no cache headers (RFC 9111 §4.2.2 leaves the heuristic to us). */
export const DEFAULT_CACHE_SECONDS = 3600;

/**
 * How long a Client ID Metadata Document may be cached (MCP 2026-07-28: respect HTTP cache
 * headers; RFC 9111 §4.2.1): Cache-Control max-age, else Expires relative to Date, else
 * DEFAULT_CACHE_SECONDS; no-store / no-cache mean the minimum. Clamped to [60 s, maxSeconds].
 */
export function cacheLifetimeSeconds(headers: IncomingHttpHeaders, nowMs: number, maxSeconds: number): number {
  const directives = new Map<string, string>();
  for (const part of String(headers['cache-control'] ?? '').split(',')) {
    const [k, v] = part.trim().toLowerCase().split('=', 2);
    if (k) directives.set(k, (v ?? '').replace(/^"|"$/g, ''));
  }
  let seconds = DEFAULT_CACHE_SECONDS;
  if (directives.has('no-store') || directives.has('no-cache')) seconds = 0;
  else if (directives.has('max-age')) {
    const n = Number(directives.get('max-age'));
    seconds = Number.isFinite(n) && n >= 0 ? n : 0;
  } else if (headers.expires !== undefined) {
    const expires = Date.parse(headers.expires);
    const date = headers.date ? Date.parse(headers.date) : nowMs;
    // An invalid Expires means "already expired" (RFC 9111 §5.3).
    seconds = Number.isFinite(expires) ? (expires - (Number.isFinite(date) ? date : nowMs)) / 1000 : 0;
  }
  return Math.floor(Math.min(maxSeconds, Math.max(MIN_CACHE_SECONDS, seconds)));
}
