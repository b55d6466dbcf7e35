import { randomToken, tokenHash } from '@stack/crypto';
import { formatScope } from '@stack/oauth';
import type { AppContext } from '../context.ts';
import type { AuthorizationCodeRecord } from '../store/index.ts';
import type { AuthorizationRequest } from './authorization-request.ts';

export type { AuthorizationCodeRecord };

export interface NewAuthorizationCode {
  clientId: string;
  userId: string;
  redirectUri: string;
  codeChallenge: string;
  resource: string;
  scope: string;
  /** RFC 9449 §10: the authorization request's `dpop_jkt`; absent or null when it had none. */
  dpopJkt?: string | null;
}

/** Issues an authorization code (stored only as its hash), valid for AUTH_CODE_TTL_SECONDS (≤ 60 s). */
export async function createAuthorizationCode(ctx: AppContext, c: NewAuthorizationCode): Promise<string> {
  const code = randomToken(32);
  const t = ctx.now();
  await ctx.store.codes.insert({
    codeHash: tokenHash(code),
    ...c,
    dpopJkt: c.dpopJkt ?? null,
    createdAt: t,
    expiresAt: t + ctx.config.authCodeTtl * 1000,
    consumedAt: null,
  });
  return code;
}

/** Issues the code answering a validated request that `userId` granted `scopes` (already narrowed by role). */
export function createCodeForRequest(ctx: AppContext, req: AuthorizationRequest, userId: string, scopes: readonly string[]): Promise<string> {
  return createAuthorizationCode(ctx, {
    clientId: req.clientId,
    userId,
    redirectUri: req.redirectUri,
    codeChallenge: req.codeChallenge,
    resource: req.resource,
    scope: formatScope(scopes),
    dpopJkt: req.dpopJkt ?? null,
  });
}

/** Finds an authorization code by its value (consumed or not); only its hash is looked up. */
export async function findAuthorizationCode(ctx: AppContext, code: string): Promise<AuthorizationCodeRecord | undefined> {
  if (code.length > 200) return undefined;
  return ctx.store.codes.findByHash(tokenHash(code));
}
