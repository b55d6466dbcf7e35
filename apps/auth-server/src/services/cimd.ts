import { invalidClient, temporarilyUnavailable, validateCimdClientId, validateCimdDocument, type CimdMetadata, OAuthError } from '@stack/oauth';
import type { AppContext } from '../context.ts';
import type { ClientRecord } from './clients.ts';
import { safeFetch, SafeFetchError, type SafeFetchResponse } from './safe-fetch.ts';
import { cacheLifetimeSeconds } from './cimd-cache.ts';

// A copy whose refetch fails for a transient reason (network, timeout, 5xx) is served for at most
// this long past its expiry, so a client's brief outage does not lock its users out. A document
// that is fetched but invalid, or answers 4xx, is never served stale: its owner changed it.
const STALE_IF_ERROR_SECONDS = 3600;
// Each fetch holds a socket and a timer; beyond this many at once, callers are asked to retry.
const MAX_CONCURRENT_FETCHES = 16;

const inFlight = new WeakMap<AppContext, Map<string, Promise<ClientRecord>>>();

function cachedRow(ctx: AppContext, url: string): Promise<ClientRecord | undefined> {
  return ctx.store.clients.find(url);
}

function isJson(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}

async function fetchDocument(ctx: AppContext, url: string): Promise<{ doc: unknown; res: SafeFetchResponse }> {
  const { cimd } = ctx.config;
  let res: SafeFetchResponse;
  try {
    res = await safeFetch(new URL(url), { allowPrivateAddresses: cimd.allowPrivateAddresses, maxBytes: cimd.maxBytes, timeoutMs: cimd.timeoutMs, accept: 'application/json' });
  } catch (err) {
    if (err instanceof SafeFetchError) throw new CimdFetchError(`client metadata document could not be fetched: ${err.message}`, err.transient);
    throw err;
  }
  if (res.status !== 200) throw new CimdFetchError(`client metadata document could not be fetched: status ${res.status}`, res.status >= 500);
  if (!isJson(res.headers['content-type'])) throw new CimdFetchError('client metadata document: content type must be application/json', false);
  try {
    return { doc: JSON.parse(res.body.toString('utf8')), res };
  } catch {
    throw new CimdFetchError('client metadata document is not valid JSON', false);
  }
}

class CimdFetchError extends Error {
  readonly transient: boolean;
  constructor(message: string, transient: boolean) {
    super(message);
    this.transient = transient;
  }
}

function store(ctx: AppContext, m: CimdMetadata, expiresAt: number): Promise<ClientRecord> {
  // Upsert keeps createdAt and revokedAt of an existing row.
  return ctx.store.clients.upsertCimd({
    id: m.client_id,
    source: 'cimd',
    secretHash: null,
    createdAt: ctx.now(),
    revokedAt: null,
    clientName: m.client_name,
    redirectUris: m.redirect_uris,
    grantTypes: m.grant_types,
    tokenEndpointAuthMethod: m.token_endpoint_auth_method,
    applicationType: m.application_type,
    scope: m.scope,
    metadata: { ...m } as Record<string, unknown>,
    metadataExpiresAt: expiresAt,
  });
}

async function refresh(ctx: AppContext, url: string, stale: ClientRecord | undefined): Promise<ClientRecord> {
  try {
    const { doc, res } = await fetchDocument(ctx, url);
    const metadata = validateCimdDocument(doc, url);
    const ttl = cacheLifetimeSeconds(res.headers, ctx.now(), ctx.config.cimd.maxCacheSeconds);
    const record = await store(ctx, metadata, ctx.now() + ttl * 1000);
    ctx.audit.write({ event: 'client.metadata_fetched', client: url, client_name: metadata.client_name, cache_seconds: ttl, decision: 'allow' });
    return record;
  } catch (err) {
    const reason = err instanceof OAuthError ? err.description : err instanceof CimdFetchError ? err.message : 'unexpected error';
    const transient = err instanceof CimdFetchError && err.transient;
    const staleUntil = (stale?.metadataExpiresAt ?? 0) + Math.min(STALE_IF_ERROR_SECONDS, ctx.config.cimd.maxCacheSeconds) * 1000;
    const serveStale = stale !== undefined && transient && ctx.now() < staleUntil;
    ctx.audit.write({ event: 'client.metadata_rejected', client: url, decision: serveStale ? 'allow' : 'deny', reason: serveStale ? `${reason} (serving cached copy)` : reason });
    if (serveStale) return stale;
    if (err instanceof CimdFetchError) throw invalidClient(err.message);
    throw err;
  }
}

/**
 * Resolves a Client ID Metadata Document client (MCP 2026-07-28 client registration): a fresh
 * cached copy from the clients table, otherwise the document fetched SSRF-safely, validated and
 * cached for its HTTP cache lifetime (60 s to CIMD_MAX_CACHE_SECONDS). Throws invalid_client
 * naming what is wrong; returns undefined for a client an operator revoked.
 */
export async function resolveCimdClient(ctx: AppContext, url: string): Promise<ClientRecord | undefined> {
  validateCimdClientId(url, { allowHttpLoopback: ctx.config.cimd.allowPrivateAddresses });
  const row = await cachedRow(ctx, url);
  if (row?.revokedAt != null) return undefined;
  // A client an operator created under this URL is pre-registered: it is not fetched.
  if (row && row.source !== 'cimd') return row;
  if (row && (row.metadataExpiresAt ?? 0) > ctx.now()) return row;

  let pending = inFlight.get(ctx);
  if (!pending) inFlight.set(ctx, (pending = new Map()));
  const running = pending.get(url);
  if (running) return running;
  if (pending.size >= MAX_CONCURRENT_FETCHES) throw temporarilyUnavailable('too many client metadata documents are being fetched, retry later', 5);
  const p = refresh(ctx, url, row).finally(() => pending.delete(url));
  pending.set(url, p);
  return p;
}
