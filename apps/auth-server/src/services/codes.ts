import { and, eq, isNull, lt } from 'drizzle-orm';
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

export type AuthorizationCodeRecord = typeof authSchema.authorizationCodes.$inferSelect;

/** A writer: the database itself or a transaction on it. */
type CodeWriter = Pick<AppContext['db'], 'update'>;

/** Finds an authorization code by its value (consumed or not); only its hash is looked up. */
export function findAuthorizationCode(ctx: AppContext, code: string): AuthorizationCodeRecord | undefined {
  if (code.length > 200) return undefined;
  return ctx.db.select().from(authSchema.authorizationCodes).where(eq(authSchema.authorizationCodes.codeHash, tokenHash(code))).get();
}

/**
 * Marks a code consumed with a conditional UPDATE (… WHERE consumed_at IS NULL), so of any number of
 * concurrent redemptions exactly one returns true, also across processes sharing a database.
 * Call it inside the transaction that stores the tokens issued for the code.
 */
export function consumeAuthorizationCode(tx: CodeWriter, codeHash: string, now: number): boolean {
  const { authorizationCodes: c } = authSchema;
  const r = tx.update(c).set({ consumedAt: now }).where(and(eq(c.codeHash, codeHash), isNull(c.consumedAt))).run();
  return r.changes === 1;
}

/** Deletes codes expired before `before` (consumed ones are kept until then so reuse is still detected). */
export function purgeAuthorizationCodes(tx: CodeWriter & Pick<AppContext['db'], 'delete'>, before: number): void {
  tx.delete(authSchema.authorizationCodes).where(lt(authSchema.authorizationCodes.expiresAt, before)).run();
}
