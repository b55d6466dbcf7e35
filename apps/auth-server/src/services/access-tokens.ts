import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { AppContext } from '../context.ts';

export interface AccessTokenClaims {
  sub: string;
  clientId: string;
  scope: string;
  resource: string;
  role: string;
}

export interface IssuedAccessToken {
  token: string;
  jti: string;
  expiresAt: number;
  expiresIn: number;
}

/** Signs an RFC 9068 JWT access token (typ at+jwt, RS256) whose audience is the requested resource (RFC 8707). */
export async function signAccessToken(ctx: AppContext, c: AccessTokenClaims): Promise<IssuedAccessToken> {
  const key = await ctx.keys.active();
  const iat = Math.floor(ctx.now() / 1000);
  const exp = iat + ctx.config.accessTokenTtl;
  const jti = randomUUID();
  const token = await new SignJWT({ client_id: c.clientId, scope: c.scope, role: c.role })
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: key.kid })
    .setIssuer(ctx.config.issuer)
    .setSubject(c.sub)
    .setAudience(c.resource)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(jti)
    .sign(key.privateKey);
  return { token, jti, expiresAt: exp * 1000, expiresIn: ctx.config.accessTokenTtl };
}
