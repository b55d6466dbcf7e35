import { jwtVerify } from 'jose';
import { invalidToken } from '@stack/oauth';
import { tokenHash } from '@stack/crypto';
import type { Identity } from './identity.ts';
import type { RevocationList } from './revocation.ts';
import { createJwksCache } from './jwks-cache.ts';
import { TokenCache } from './token-cache.ts';
import { identityFromClaims, type RoleScopes } from './access-token-claims.ts';
import { toInvalidToken } from './jose-errors.ts';

export interface JwtVerifierOptions {
  /** The authorization server's issuer identifier, compared exactly with `iss`. */
  issuer: string;
  /** This MCP server's canonical resource URI (RFC 8707); `aud` must be or contain it. */
  audience: string;
  jwksUrl: string;
  /** The declared roles and what each may hold: the cap on a token's scopes (default the built-in ROLE_SCOPES). */
  roleScopes?: RoleScopes;
  /** Allowed clock skew for exp, nbf and iat. Default 30. */
  clockToleranceSec?: number;
  /** Minimum time between two background JWKS refreshes. Default 30000. */
  jwksCooldownMs?: number;
  /** Minimum time between two JWKS fetches caused by an unknown kid (a new key is fetched at once). Default 1000. */
  jwksUnknownKidFloorMs?: number;
  /**
   * After this age the JWKS is refreshed in the background. Default 60000, the authorization
   * server's Cache-Control max-age for /jwks: a withdrawn key stops verifying within about that.
   */
  jwksMaxAgeMs?: number;
  revocations?: RevocationList;
  now?: () => number;
  /** Verified tokens kept to skip signature checks on reuse; 0 disables. Default 10000. */
  cacheSize?: number;
  fetch?: typeof fetch;
  /** JWKS fetch failures (the cached keys keep serving). */
  onJwksError?: (err: unknown) => void;
}

export interface JwtVerifier {
  /** Verifies an RFC 9068 access token; every failure is an `invalid_token` OAuthError (401). */
  verify(token: string): Promise<Identity>;
}

// Our tokens are ~1 KB; anything far larger is not one of them and is not worth parsing.
const MAX_TOKEN_LENGTH = 8 * 1024;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;
const REQUIRED_CLAIMS = ['iss', 'aud', 'exp', 'iat', 'sub', 'client_id', 'jti', 'scope', 'role'];

/**
 * Verifies JWT access tokens locally against the authorization server's JWKS (RS256, typ at+jwt,
 * iss, aud, exp/nbf/iat with skew, required claims, revocation). Verified tokens are cached by
 * SHA-256 of the whole token; a hit still checks exp, the revocation list and the key set.
 */
export function createJwtVerifier(opts: JwtVerifierOptions): JwtVerifier {
  if (!opts.issuer) throw new TypeError('issuer is required');
  if (!opts.audience) throw new TypeError('audience is required');
  new URL(opts.jwksUrl); // throws TypeError on a bad URL: a configuration bug, not a token failure
  const tolerance = opts.clockToleranceSec ?? 30;
  const now = opts.now ?? Date.now;
  const keys = createJwksCache({
    url: opts.jwksUrl,
    cooldownMs: opts.jwksCooldownMs ?? 30_000,
    unknownKidFloorMs: opts.jwksUnknownKidFloorMs ?? 1_000,
    maxAgeMs: opts.jwksMaxAgeMs ?? 60_000,
    now,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.onJwksError ? { onError: opts.onJwksError } : {}),
  });
  const cache = new TokenCache(opts.cacheSize ?? 10_000);
  const nowSec = () => Math.floor(now() / 1000);
  // Same rule as jose: a token is expired once exp <= now - tolerance.
  const unexpired = (exp: number) => exp > nowSec() - tolerance;

  async function checkRevoked(jti: string): Promise<void> {
    if (await opts.revocations?.isRevoked(jti)) throw invalidToken('token has been revoked');
  }

  async function verifyFully(token: string): Promise<{ identity: Identity; exp: number; generation: number }> {
    // The key set generation the signing key came from, so a later change of set invalidates the entry.
    let generation = -1;
    const getKey: typeof keys.getKey = async (header, jws) => {
      const k = await keys.getKey(header, jws);
      generation = keys.generation();
      return k;
    };
    try {
      const { payload } = await jwtVerify(token, getKey, {
        algorithms: ['RS256'],
        typ: 'at+jwt', // jose also accepts 'application/at+jwt' (RFC 9068 §2.1)
        issuer: opts.issuer,
        audience: opts.audience,
        clockTolerance: tolerance,
        currentDate: new Date(now()),
        requiredClaims: REQUIRED_CLAIMS,
      });
      const identity = identityFromClaims(payload, nowSec(), tolerance, opts.roleScopes);
      return { identity, exp: payload.exp as number, generation };
    } catch (err) {
      throw toInvalidToken(err);
    }
  }

  return {
    async verify(token) {
      if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !JWT_SHAPE.test(token)) {
        throw invalidToken('token is malformed');
      }
      const key = tokenHash(token);
      const hit = cache.get(key);
      if (hit && unexpired(hit.exp) && hit.keysGeneration === keys.generation()) {
        await checkRevoked(hit.jti);
        return hit.identity;
      }
      if (hit) cache.delete(key); // expired or verified under an older key set: verify again for the exact error
      const { identity, exp, generation } = await verifyFully(token);
      await checkRevoked(identity.tokenId as string);
      cache.set(key, { identity, exp, jti: identity.tokenId as string, keysGeneration: generation });
      return identity;
    },
  };
}
