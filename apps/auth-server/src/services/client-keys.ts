import { errors, type JWTVerifyGetKey } from 'jose';
import { clientAssertionKeys, invalidClient, parseClientJwks, type AssertionKeys, type OAuthError } from '@stack/oauth';
import type { ClientRecord } from '../store/index.ts';
import { safeFetch, SafeFetchError, type SafeFetchOptions } from './safe-fetch.ts';

/** A jwks_uri document is a few keys; parseClientJwks refuses sets above 32 KB anyway. */
const MAX_JWKS_BYTES = 64 * 1024;
/** Documents kept at once (one per private_key_jwt client with a jwks_uri); the oldest goes first. */
const DEFAULT_MAX_ENTRIES = 1000;
/** A fetched set is used this long before it is fetched again. */
const DEFAULT_MAX_AGE_SECONDS = 300;
/**
 * An assertion signed by a key the cached set lacks (the client rotated) fetches the set again, but
 * at most this often per URL: assertions naming unknown keys cannot turn into a stream of fetches.
 * A failed fetch is remembered as long.
 */
const DEFAULT_MIN_REFETCH_SECONDS = 30;

export interface ClientKeyCacheOptions {
  /** CIMD_ALLOW_PRIVATE_ADDRESSES: the same SSRF rules as Client ID Metadata Documents. */
  allowPrivateAddresses: boolean;
  timeoutMs: number;
  now: () => number;
  maxEntries?: number;
  maxAgeSeconds?: number;
  minRefetchSeconds?: number;
  /** Hostname resolution (tests map names to addresses); the system resolver by default. */
  resolve?: SafeFetchOptions['resolve'];
  /**
   * Whose keys these are, for errors: clients' (invalid_client, the default) or trusted issuers'
   * (invalid_grant: the grant's issuer, RFC 7523 §3.1).
   */
  owner?: { noun: string; fail: (description: string) => OAuthError };
}

/** The keys a private_key_jwt client signs its assertions with (RFC 7523 §2.2, RFC 7591 §2 jwks / jwks_uri). */
export interface ClientKeyCache {
  /** A key resolver for verifyClientAssertion; invalid_client when the client has no usable keys. */
  keysFor(client: ClientRecord): AssertionKeys;
  /** A key resolver for the JWKS at `url` (a trusted issuer's jwks_uri), fetched and cached the same way. */
  keysAt(url: string): AssertionKeys;
  close(): void;
}

interface Entry {
  fetchedAt: number;
  keys?: AssertionKeys;
  /** The fetch or the document failed: refused until fetchedAt + minRefetch. */
  error?: Error;
}

/**
 * Inline `jwks` are checked on each use (parseClientJwks: public asymmetric signing keys only).
 * A `jwks_uri` is fetched with the SSRF guard of metadata documents (safeFetch: https, every resolved
 * address public unless CIMD_ALLOW_PRIVATE_ADDRESSES, pinned connection, no redirects, size and time
 * bounds), cached with a bound, and fetched again when older than maxAge or when an assertion names a
 * key it lacks (at most every minRefetch seconds). Concurrent uses share one fetch.
 */
export function createClientKeyCache(o: ClientKeyCacheOptions): ClientKeyCache {
  const maxEntries = o.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxAge = (o.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS) * 1000;
  const minRefetch = (o.minRefetchSeconds ?? DEFAULT_MIN_REFETCH_SECONDS) * 1000;
  const entries = new Map<string, Entry>();
  const inFlight = new Map<string, Promise<Entry>>();
  const closing = new AbortController();
  const owner = o.owner ?? { noun: "the client's", fail: invalidClient };

  async function fetchKeys(url: string): Promise<AssertionKeys> {
    let body: Buffer;
    try {
      const res = await safeFetch(new URL(url), {
        allowPrivateAddresses: o.allowPrivateAddresses, maxBytes: MAX_JWKS_BYTES, timeoutMs: o.timeoutMs,
        accept: 'application/jwk-set+json, application/json', signal: closing.signal, ...(o.resolve ? { resolve: o.resolve } : {}),
      });
      if (res.status !== 200) throw new SafeFetchError(`answered HTTP ${res.status}`);
      body = res.body;
    } catch (err) {
      // SafeFetchError messages say what was refused (never the URL's content); anything else is generic.
      throw owner.fail(`${owner.noun} jwks_uri could not be fetched: ${err instanceof SafeFetchError ? err.message : 'error'}`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      throw owner.fail(`${owner.noun} jwks_uri is not a JSON Web Key Set`);
    }
    return clientAssertionKeys(parseClientJwks(doc, (d) => owner.fail(`${owner.noun} jwks_uri document is refused: ${d}`)));
  }

  function load(url: string): Promise<Entry> {
    const running = inFlight.get(url);
    if (running) return running;
    const p = fetchKeys(url).then(
      (keys): Entry => ({ fetchedAt: o.now(), keys }),
      (error: unknown): Entry => ({ fetchedAt: o.now(), error: error as Error }),
    ).then((e) => {
      entries.delete(url);
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(url, e);
      return e;
    }).finally(() => inFlight.delete(url));
    inFlight.set(url, p);
    return p;
  }

  const usable = (e: Entry): AssertionKeys => {
    if (e.error) throw e.error;
    return e.keys!;
  };

  function remoteKeys(url: string): JWTVerifyGetKey {
    return async (header, token) => {
      let e = entries.get(url);
      const age = e ? o.now() - e.fetchedAt : Infinity;
      if (!e || (e.error ? age >= minRefetch : age >= maxAge)) e = await load(url);
      try {
        return await usable(e)(header, token);
      } catch (err) {
        // A key the set lacks: the client may have rotated; look again, rarely.
        if (!(err instanceof errors.JWKSNoMatchingKey) || o.now() - e.fetchedAt < minRefetch) throw err;
        return usable(await load(url))(header, token);
      }
    };
  }

  return {
    keysFor(client) {
      if (client.jwks) return clientAssertionKeys(parseClientJwks(client.jwks, (d) => invalidClient(`the client's registered keys are refused: ${d}`)));
      if (client.jwksUri) return remoteKeys(client.jwksUri);
      throw invalidClient('the client has no registered keys for private_key_jwt');
    },
    keysAt: remoteKeys,
    close() {
      closing.abort();
      entries.clear();
    },
  };
}
