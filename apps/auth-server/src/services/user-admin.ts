import { and, asc, count, eq, gt, isNull, notExists } from 'drizzle-orm';
import { authSchema, type AuthDb } from '@stack/db';
import { ROLE_SCOPES, type Role } from '@stack/oauth';
import { findUserByEmail, type UserRecord } from './users.ts';
import type { AuthWriter } from './db-writer.ts';
import { revokeFamilies } from './revocations.ts';

const { users, sessions, refreshTokens, issuedAccessTokens, revokedAccessTokens } = authSchema;

/** What a revocation removed: refresh tokens, sessions and still-valid access tokens. */
export interface RevokedGrants {
  refreshTokens: number;
  sessions: number;
  accessTokens: number;
}

/** A user as shown to operators (never the password hash). */
export type UserSummary = Omit<UserRecord, 'passwordHash'>;

/**
 * Revokes every token family of one user or one client, inside the caller's transaction: all their
 * refresh tokens and all unexpired access tokens (as jtis in revoked_access_tokens, which the MCP
 * server polls), since revoking a grant revokes the access tokens issued from it (RFC 7009 §2.1).
 */
export function revokeGrants(tx: AuthWriter, by: { userId: string } | { clientId: string }, now: number): Omit<RevokedGrants, 'sessions'> {
  const rtOwner = 'userId' in by ? eq(refreshTokens.userId, by.userId) : eq(refreshTokens.clientId, by.clientId);
  const atOwner = 'userId' in by ? eq(issuedAccessTokens.userId, by.userId) : eq(issuedAccessTokens.clientId, by.clientId);
  const liveAt = and(atOwner, gt(issuedAccessTokens.expiresAt, now));
  const accessTokens = tx.select({ n: count() }).from(issuedAccessTokens)
    .where(and(liveAt, notExists(tx.select({ jti: revokedAccessTokens.jti }).from(revokedAccessTokens).where(eq(revokedAccessTokens.jti, issuedAccessTokens.jti)))))
    .get()?.n ?? 0;
  const families = new Set([
    ...tx.selectDistinct({ f: refreshTokens.familyId }).from(refreshTokens).where(and(rtOwner, isNull(refreshTokens.revokedAt))).all().map((r) => r.f),
    ...tx.selectDistinct({ f: issuedAccessTokens.familyId }).from(issuedAccessTokens).where(liveAt).all().map((r) => r.f),
  ]);
  const ids = [...families];
  let refresh = 0;
  // Batches keep each IN (…) list well under SQLite's bound-parameter limit.
  for (let i = 0; i < ids.length; i += 500) refresh += revokeFamilies(tx, ids.slice(i, i + 500), now);
  return { refreshTokens: refresh, accessTokens };
}

/** All users, oldest first, without password hashes. */
export function listUsers(db: AuthDb): UserSummary[] {
  return db.select({ id: users.id, email: users.email, role: users.role, createdAt: users.createdAt, disabledAt: users.disabledAt })
    .from(users).orderBy(asc(users.createdAt), asc(users.email)).all();
}

function isDowngrade(from: Role, to: Role): boolean {
  return ROLE_SCOPES[from].some((s) => !ROLE_SCOPES[to].includes(s));
}

/**
 * Changes a user's role. When the new role loses scopes, the user's tokens are revoked, because
 * tokens already issued carry scopes the role no longer allows. Returns undefined if no such user.
 */
export function setUserRole(db: AuthDb, email: string, role: Role, now = Date.now()): { user: UserSummary; previous: Role; revoked?: RevokedGrants } | undefined {
  const user = findUserByEmail(db, email);
  if (!user) return undefined;
  const previous = user.role;
  const revoked = db.transaction((tx) => {
    tx.update(users).set({ role }).where(eq(users.id, user.id)).run();
    return isDowngrade(previous, role) ? revokeAll(tx, user.id, now) : undefined;
  });
  const { passwordHash: _, ...rest } = user;
  return { user: { ...rest, role }, previous, ...(revoked ? { revoked } : {}) };
}

function revokeAll(tx: AuthWriter, userId: string, now: number): RevokedGrants {
  const s = tx.delete(sessions).where(eq(sessions.userId, userId)).run();
  return { ...revokeGrants(tx, { userId }, now), sessions: s.changes };
}

/**
 * Disables a user: they can no longer sign in (verifyPassword refuses them), and their sessions,
 * refresh tokens and unexpired access tokens are revoked. Returns undefined if no such user.
 */
export function disableUser(db: AuthDb, email: string, now = Date.now()): { user: UserSummary; alreadyDisabled: boolean; revoked: RevokedGrants } | undefined {
  const user = findUserByEmail(db, email);
  if (!user) return undefined;
  const disabledAt = user.disabledAt ?? now;
  // Revoke even when already disabled: tokens could have been issued by a race with the first disable.
  const revoked = db.transaction((tx) => {
    tx.update(users).set({ disabledAt }).where(eq(users.id, user.id)).run();
    return revokeAll(tx, user.id, now);
  });
  const { passwordHash: _, ...rest } = user;
  return { user: { ...rest, disabledAt }, alreadyDisabled: user.disabledAt !== null, revoked };
}

/** Re-enables a disabled user (revoked tokens stay revoked). Returns undefined if no such user. */
export function enableUser(db: AuthDb, email: string): { user: UserSummary; wasDisabled: boolean } | undefined {
  const user = findUserByEmail(db, email);
  if (!user) return undefined;
  db.update(users).set({ disabledAt: null }).where(eq(users.id, user.id)).run();
  const { passwordHash: _, ...rest } = user;
  return { user: { ...rest, disabledAt: null }, wasDisabled: user.disabledAt !== null };
}
