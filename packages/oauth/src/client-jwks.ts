import { createLocalJWKSet, type JSONWebKeySet, type JWK } from 'jose';
import { invalidClientMetadata, type OAuthError } from './errors.ts';
import type { AssertionKeys } from './jwt-assertion.ts';

/** A client needs one key, two during a rotation; a few more are harmless, hundreds are not. */
const MAX_KEYS = 10;
const MAX_JWKS_BYTES = 32 * 1024;
const MIN_RSA_MODULUS_BITS = 2048;
/** Members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const CURVES: Record<string, readonly string[]> = { EC: ['P-256', 'P-384', 'P-521'], OKP: ['Ed25519'] };

/**
 * Checks a client's key set (RFC 7591 §2 `jwks`, or the document behind its `jwks_uri`) and returns a
 * copy holding only public asymmetric signing keys: RSA of at least 2048 bits, EC P-256/384/521 or
 * Ed25519, `use` absent or "sig", no private or symmetric member. A set with a private key is
 * refused rather than cleaned: the client has published its secret and must replace it.
 * `fail` decides the error: invalid_client_metadata at registration (the default), invalid_client
 * for a fetched jwks_uri at the token endpoint.
 */
export function parseClientJwks(value: unknown, fail: (d: string) => OAuthError = invalidClientMetadata): JSONWebKeySet {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    json = undefined;
  }
  if (json === undefined || json.length > MAX_JWKS_BYTES) throw fail("'jwks' must be a JSON object of at most 32 KB");
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { keys?: unknown }).keys)) throw fail("'jwks' must be an object with a 'keys' array");
  const keys = (value as { keys: unknown[] }).keys;
  if (keys.length === 0 || keys.length > MAX_KEYS) throw fail(`'jwks' must hold between 1 and ${MAX_KEYS} keys`);
  const kids = new Set<string>();
  const out = keys.map((k, i) => {
    const where = `'jwks' key ${i + 1}`;
    if (typeof k !== 'object' || k === null || Array.isArray(k)) throw fail(`${where} is not an object`);
    const jwk = k as Record<string, unknown>;
    if (PRIVATE_MEMBERS.some((m) => m in jwk)) throw fail(`${where} holds private or symmetric key material`);
    if (jwk.use !== undefined && jwk.use !== 'sig') throw fail(`${where} is not a signing key`);
    if (jwk.key_ops !== undefined && (!Array.isArray(jwk.key_ops) || !jwk.key_ops.includes('verify'))) throw fail(`${where} is not a verification key`);
    if (jwk.kid !== undefined) {
      if (typeof jwk.kid !== 'string' || jwk.kid === '' || jwk.kid.length > 200) throw fail(`${where} has an invalid 'kid'`);
      if (kids.has(jwk.kid)) throw fail(`${where} repeats a 'kid'`);
      kids.add(jwk.kid);
    }
    if (jwk.alg !== undefined && typeof jwk.alg !== 'string') throw fail(`${where} has an invalid 'alg'`);
    switch (jwk.kty) {
      case 'RSA':
        if (!b64url(jwk.n) || !b64url(jwk.e)) throw fail(`${where} is an incomplete RSA key`);
        if (modulusBits(jwk.n) < MIN_RSA_MODULUS_BITS) throw fail(`${where} is an RSA key shorter than ${MIN_RSA_MODULUS_BITS} bits`);
        return pick(jwk, ['kty', 'n', 'e']);
      case 'EC':
      case 'OKP':
        if (typeof jwk.crv !== 'string' || !CURVES[jwk.kty]!.includes(jwk.crv)) throw fail(`${where} has an unsupported curve`);
        if (!b64url(jwk.x) || (jwk.kty === 'EC' && !b64url(jwk.y))) throw fail(`${where} is an incomplete ${jwk.kty} key`);
        return pick(jwk, jwk.kty === 'EC' ? ['kty', 'crv', 'x', 'y'] : ['kty', 'crv', 'x']);
      default:
        throw fail(`${where} must be an RSA, EC or OKP public key`);
    }
  });
  const set = { keys: out };
  try {
    createLocalJWKSet(set); // jose's own structural check
  } catch {
    throw fail("'jwks' is not a valid JSON Web Key Set");
  }
  return set;
}

/** The verification keys of a checked set, for verifyClientAssertion. */
export function clientAssertionKeys(jwks: JSONWebKeySet): AssertionKeys {
  return createLocalJWKSet(jwks);
}

const b64url = (v: unknown): v is string => typeof v === 'string' && /^[A-Za-z0-9_-]{1,2048}$/.test(v);

function modulusBits(n: string): number {
  const bytes = Buffer.from(n, 'base64url');
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  return i === bytes.length ? 0 : (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]!));
}

function pick(jwk: Record<string, unknown>, members: string[]): JWK {
  const out: Record<string, unknown> = {};
  for (const m of [...members, 'kid', 'alg', 'use']) if (jwk[m] !== undefined) out[m] = jwk[m];
  return out;
}
