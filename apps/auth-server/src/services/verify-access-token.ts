import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { AppContext } from '../context.ts';

export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  jti: string;
  exp: number;
  iat: number;
  client_id: string;
  scope: string;
  role: string;
  /** RFC 9449 §6.1: present on a DPoP-bound token (`{ jkt }`). */
  cnf?: unknown;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Verifies an access token this server issued (RS256 with one of our published keys, iss, typ
 * at+jwt, exp) and returns its claims; undefined for anything else. Revocation is not checked here.
 */
export async function verifyOwnAccessToken(ctx: AppContext, token: string): Promise<AccessTokenClaims | undefined> {
  if (token.length > 8192 || !JWT_SHAPE.test(token)) return undefined;
  try {
    const jwks = createLocalJWKSet(await ctx.keys.jwks());
    const { payload } = await jwtVerify(token, jwks, {
      issuer: ctx.config.issuer,
      typ: 'at+jwt',
      algorithms: ['RS256'],
      currentDate: new Date(ctx.now()),
      requiredClaims: ['sub', 'jti', 'exp', 'iat', 'aud', 'client_id'],
    });
    return payload as AccessTokenClaims;
  } catch {
    return undefined;
  }
}
