import { sign, type KeyObject } from 'node:crypto';

/** Claims of an RFC 9068 access token, in the order they are serialised. */
export interface AccessTokenPayload {
  client_id: string;
  scope: string;
  role: string;
  iss: string;
  sub: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
  /** RFC 9449 §6.1: the DPoP key the token is bound to (RFC 7800 confirmation claim); absent for a bearer token. */
  cnf?: { jkt: string } | undefined;
}

/**
 * Signs JWT access tokens with one RS256 key (RFC 7515 compact serialisation, RFC 9068 header
 * `typ: at+jwt`). Synchronous node:crypto on a KeyObject imported once: the header is encoded once
 * per key, and nothing goes through WebCrypto's promise job. PKCS#1 v1.5 signatures are
 * deterministic, so the token is byte for byte what a generic JWT library would produce for the same
 * header and claims.
 */
export interface AccessTokenSigner {
  readonly kid: string;
  sign(payload: AccessTokenPayload): string;
}

export function rs256AccessTokenSigner(kid: string, privateKey: KeyObject): AccessTokenSigner {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'rsa') throw new TypeError('RS256 needs an RSA private key');
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'at+jwt', kid })).toString('base64url');
  return {
    kid,
    sign(p) {
      for (const n of [p.iat, p.exp]) if (!Number.isSafeInteger(n)) throw new TypeError('iat and exp must be integers');
      // Explicit key order: the serialisation does not depend on how the caller built the object.
      const claims = {
        client_id: p.client_id, scope: p.scope, role: p.role, iss: p.iss, sub: p.sub, aud: p.aud, iat: p.iat, exp: p.exp, jti: p.jti,
        ...(p.cnf ? { cnf: { jkt: p.cnf.jkt } } : {}),
      };
      const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
    },
  };
}
