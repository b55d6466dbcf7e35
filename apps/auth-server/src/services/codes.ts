import { authSchema } from '@stack/db';
import { randomToken, tokenHash } from '@stack/crypto';
import type { AppContext } from '../context.ts';

export interface NewAuthorizationCode {
  clientId: string;
  userId: string;
  redirectUri: string;
  codeChallenge: string;
  resource: string;
  scope: string;
}

/** Issues an authorization code (stored only as its hash), valid for AUTH_CODE_TTL_SECONDS (≤ 60 s). */
export function createAuthorizationCode(ctx: AppContext, c: NewAuthorizationCode): string {
  const code = randomToken(32);
  const t = ctx.now();
  ctx.db.insert(authSchema.authorizationCodes).values({
    codeHash: tokenHash(code),
    ...c,
    createdAt: t,
    expiresAt: t + ctx.config.authCodeTtl * 1000,
  }).run();
  return code;
}
