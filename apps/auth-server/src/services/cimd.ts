import { validateCimdClientId, validateCimdDocument, invalidClient, type CimdMetadata, OAuthError } from '@stack/oauth';
import { StoreUnavailableError } from '@stack/redis';
import type { AppContext } from '../context.ts';
import type { ClientRecord } from './clients.ts';
import { safeFetch, SafeFetchError, type SafeFetchResponse } from './safe-fetch.ts';
import { cacheLifetimeSeconds } from './cimd-cache.ts';

// A copy whose refetch fails for a transient reason (network, timeout, 5xx, a fetch limit) is served
// for at most this long past its expiry, so a client's brief outage does not lock its users out. A
// document that is fetched but invalid, or answers 4xx, is never served stale: its owner changed it.
const STALE_IF_ERROR_SECONDS = 3600;

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
    res = await safeFetch(new URL(url), {
      allowPrivateAddresses: cimd.allowPrivateAddresses, maxBytes: cimd.maxBytes, timeoutMs: cimd.timeoutMs, accept: 'application/json', signal: ctx.cimd.signal,
    });
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
  // Upsert keeps createdAt, revokedAt and pendingApproval of an existing row: under
  // REGISTRATION_MODE=approval a document seen for the first time waits for an admin, as a client
  // registering at /register does (anyone can publish a document), and a refetch neither approves
  // it nor makes an approved one wait again.
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
    metadata: { ...m },
    metadataExpiresAt: expiresAt,
    pendingApproval: ctx.config.registration.mode === 'approval',
  });
}

/** True when `stale` (an expired copy) may still be served because a refetch cannot happen now. */
function servableStale(ctx: AppContext, stale: ClientRecord | undefined): stale is ClientRecord {
  if (stale === undefined) return false;
  const staleUntil = (stale.metadataExpiresAt ?? 0) + Math.min(STALE_IF_ERROR_SECONDS, ctx.config.cimd.maxCacheSeconds) * 1000;
  return ctx.now() < staleUntil;
}

/**
 * Fetches, validates and stores the document, holding a fetch slot of its host only while fetching.
 * A failure of the document itself (unreachable, timed out, 4xx/5xx, invalid, refused as SSRF) is
 * remembered for CIMD_FAILURE_CACHE_SECONDS, so repeating the request costs no fetch.
 */
async function refresh(ctx: AppContext, url: string, host: string, stale: ClientRecord | undefined): Promise<ClientRecord> {
  let release: () => void;
  try {
    release = await ctx.cimd.slots.acquire(host);
  } catch (err) {
    // No slot came free in time: the server is busy, the document is not at fault.
    if (servableStale(ctx, stale)) return stale;
    throw err;
  }
  let metadata: CimdMetadata;
  let ttl: number;
  try {
    let fetched;
    try {
      fetched = await fetchDocument(ctx, url);
    } finally {
      release();
    }
    metadata = validateCimdDocument(fetched.doc, url, ctx.stack.scopes());
    ttl = cacheLifetimeSeconds(fetched.res.headers, ctx.now(), ctx.config.cimd.maxCacheSeconds);
  } catch (err) {
    if (!(err instanceof CimdFetchError || err instanceof OAuthError)) throw err;
    const reason = err instanceof OAuthError ? err.description : err.message;
    const transient = err instanceof CimdFetchError && err.transient;
    const serveStale = transient && servableStale(ctx, stale);
    const error = err instanceof CimdFetchError ? invalidClient(err.message) : err;
    ctx.cimd.rememberFailure(url, { error, transient, until: ctx.now() + ctx.config.cimd.failureCacheSeconds * 1000 });
    ctx.audit.write({ event: 'client.metadata_rejected', client: url, decision: serveStale ? 'allow' : 'deny', reason: serveStale ? `${reason} (serving cached copy)` : reason });
    if (serveStale) return stale;
    throw error;
  }
  const record = await store(ctx, metadata, ctx.now() + ttl * 1000);
  ctx.audit.write({ event: 'client.metadata_fetched', client: url, client_name: metadata.client_name, cache_seconds: ttl, decision: 'allow' });
  return record;
}

/**
 * Resolves a Client ID Metadata Document client (MCP 2026-07-28 client registration): a fresh
 * cached copy from the clients table, otherwise the document fetched SSRF-safely, validated and
 * cached for its HTTP cache lifetime (60 s to CIMD_MAX_CACHE_SECONDS). Throws invalid_client
 * naming what is wrong; returns undefined for a client an operator revoked.
 *
 * Only a fetch costs anything: `address` (the client address of the request; undefined only for
 * work not done on behalf of a network caller) may trigger CIMD_FETCHES_PER_ADDRESS_PER_MINUTE new
 * fetches from CIMD_HOSTS_PER_ADDRESS_PER_HOUR hosts, beyond which it gets 429 rate_limited without
 * a fetch; a host is fetched from at most CIMD_FETCHES_PER_HOST_PER_MINUTE times and two at once,
 * callers waiting up to CIMD_QUEUE_WAIT_MS for a slot. A recent failure is answered from memory.
 */
export async function resolveCimdClient(ctx: AppContext, url: string, address: string | undefined): Promise<ClientRecord | undefined> {
  const parsed = validateCimdClientId(url, { allowHttpLoopback: ctx.config.cimd.allowPrivateAddresses });
  const row = await cachedRow(ctx, url);
  if (row?.revokedAt != null) return undefined;
  // A client an operator created under this URL is pre-registered: it is not fetched.
  if (row && row.source !== 'cimd') return row;
  ctx.cimd.checkHost(parsed);
  if (row && (row.metadataExpiresAt ?? 0) > ctx.now()) return row;

  const failed = ctx.cimd.recentFailure(url, ctx.now());
  if (failed) {
    if (failed.transient && servableStale(ctx, row)) return row;
    throw failed.error;
  }
  const { inFlight } = ctx.cimd;
  const running = inFlight.get(url);
  if (running) return running;
  try {
    await ctx.cimd.admit(address, parsed);
  } catch (err) {
    // A fetch limit says nothing about the document: a copy within its stale window is still good.
    if ((err instanceof OAuthError || err instanceof StoreUnavailableError) && servableStale(ctx, row)) return row;
    throw err;
  }
  // Another request may have started the same fetch while the limits were counted.
  const started = inFlight.get(url);
  if (started) return started;
  const p = refresh(ctx, url, parsed.hostname, row).finally(() => inFlight.delete(url));
  inFlight.set(url, p);
  return p;
}
