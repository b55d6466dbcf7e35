import { createLocalJWKSet, errors, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';
import { fetchJson } from './fetch-json.ts';
import { singleFlight } from './single-flight.ts';

/** Thrown when no key set has ever been fetched successfully, so no token can be checked. */
export class KeysUnavailableError extends Error {
  constructor() {
    super('signing keys are unavailable');
    this.name = 'KeysUnavailableError';
  }
}

/** Thrown when a token header carries no `kid`: every key we publish has one, so we never guess. */
export class MissingKidError extends Error {
  constructor() {
    super("token header has no 'kid'");
    this.name = 'MissingKidError';
  }
}

export interface JwksCacheOptions {
  url: string;
  /** Minimum time between two background refreshes (after maxAgeMs), successful or not. */
  cooldownMs: number;
  /**
   * Minimum time between two fetches caused by an unknown kid. A new key is fetched at once; a
   * stream of tokens with made-up kids costs at most one fetch per this interval.
   */
  unknownKidFloorMs: number;
  /** After this age the set is refreshed in the background; the stale set keeps serving meanwhile. */
  maxAgeMs: number;
  now: () => number;
  fetch?: typeof fetch;
  onError?: (err: unknown) => void;
}

export interface JwksCache {
  getKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey>;
  /** Changes whenever a fetched key set differs from the previous one (cached verifications must be redone). */
  generation(): number;
}

const MAX_JWKS_BYTES = 256 * 1024;
const FETCH_TIMEOUT_MS = 5_000;
const NO_KEYS_RETRY_MS = 1_000;

/**
 * A JWKS cache around jose's createLocalJWKSet. jose's createRemoteJWKSet drops to an error once
 * its cacheMaxAge has passed and the refetch fails; a resource server must keep verifying with the
 * keys it has while the authorization server is down, so refetch failures here keep the old set.
 */
export function createJwksCache(opts: JwksCacheOptions): JwksCache {
  const doFetch = opts.fetch ?? fetch;
  let local: ReturnType<typeof createLocalJWKSet> | undefined;
  let fetchedJson: string | undefined;
  let fetchedAt = -Infinity;
  let attemptedAt = -Infinity;
  let gen = 0;

  // Without any keys every request fails anyway, so retry sooner (e.g. the MCP server started
  // before the authorization server); with keys, the full cooldown protects the auth server.
  const coolingDown = () => opts.now() - attemptedAt < (local ? opts.cooldownMs : Math.min(opts.cooldownMs, NO_KEYS_RETRY_MS));
  const withinFloor = () => opts.now() - attemptedAt < opts.unknownKidFloorMs;

  async function load(): Promise<void> {
    attemptedAt = opts.now();
    const body = await fetchJson(doFetch, opts.url, {
      maxBytes: MAX_JWKS_BYTES,
      timeoutMs: FETCH_TIMEOUT_MS,
      accept: 'application/jwk-set+json, application/json',
    });
    const next = createLocalJWKSet(body as Parameters<typeof createLocalJWKSet>[0]); // throws on a malformed set
    const json = JSON.stringify(body);
    if (json !== fetchedJson) gen++;
    local = next;
    fetchedJson = json;
    fetchedAt = opts.now();
  }

  // One fetch at a time; failures are reported and leave the current set in place.
  const fetching = singleFlight(load, (err) => opts.onError?.(err));
  const refresh = fetching.run;

  return {
    generation: () => gen,
    async getKey(header, token) {
      if (typeof header.kid !== 'string' || header.kid === '') throw new MissingKidError();
      if (!local) {
        if (fetching.inFlight() || !coolingDown()) await refresh(); // joins a fetch already under way
        if (!local) throw new KeysUnavailableError();
      } else if (opts.now() - fetchedAt > opts.maxAgeMs && !coolingDown()) {
        void refresh();
      }
      try {
        return await local(header, token);
      } catch (err) {
        // RFC 7517 §4.5 / key rotation: an unknown kid may be a new key, so ask again at once rather
        // than after the cooldown; concurrent unknown kids join one fetch, and made-up kids cost at
        // most one fetch per floor. (The authorization server publishes a key before signing with it,
        // so a real new kid is normally known already.)
        if (!(err instanceof errors.JWKSNoMatchingKey) || (!fetching.inFlight() && withinFloor())) throw err;
        await refresh();
        return local(header, token);
      }
    },
  };
}
