import { randomUUID } from 'node:crypto';
import type { AppContext } from '../context.ts';

export interface AccessTokenClaims {
  sub: string;
  clientId: string;
  scope: string;
  resource: string;
  role: string;
  /** RFC 9449 §6.1: the thumbprint of the DPoP proof key the token is bound to (`cnf.jkt`); absent for a bearer token. */
  dpopJkt?: string | undefined;
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
  const token = key.signer.sign({
    client_id: c.clientId, scope: c.scope, role: c.role, iss: ctx.config.issuer, sub: c.sub, aud: c.resource, iat, exp, jti,
    cnf: c.dpopJkt === undefined ? undefined : { jkt: c.dpopJkt },
  });
  return { token, jti, expiresAt: exp * 1000, expiresIn: ctx.config.accessTokenTtl };
}
