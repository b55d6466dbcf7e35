import { and, eq, gt, lt } from 'drizzle-orm';
import { authSchema } from '@stack/db';
import { randomToken, tokenHash } from '@stack/crypto';
import type { AppContext } from '../context.ts';
import { findUserById, type UserRecord } from './users.ts';

const { sessions } = authSchema;

export interface NewSession {
  /** The cookie value; only its SHA-256 is stored. */
  id: string;
  expiresAt: number;
}

/** Starts a browser session for a user, lasting SESSION_TTL_SECONDS. Expired sessions are swept here. */
export function createSession(ctx: AppContext, userId: string): NewSession {
  const id = randomToken(32);
  const t = ctx.now();
  const expiresAt = t + ctx.config.sessionTtl * 1000;
  ctx.db.transaction((tx) => {
    tx.delete(sessions).where(lt(sessions.expiresAt, t)).run();
    tx.insert(sessions).values({ idHash: tokenHash(id), userId, createdAt: t, expiresAt }).run();
  });
  return { id, expiresAt };
}

/** The enabled user of a live session, or undefined for a missing, unknown or expired session id. */
export function sessionUser(ctx: AppContext, id: string | undefined): UserRecord | undefined {
  if (!id || id.length > 100) return undefined;
  const row = ctx.db.select().from(sessions)
    .where(and(eq(sessions.idHash, tokenHash(id)), gt(sessions.expiresAt, ctx.now())))
    .get();
  if (!row) return undefined;
  const user = findUserById(ctx.db, row.userId);
  return user && user.disabledAt === null ? user : undefined;
}

/** Ends a session (used when a new one replaces it at login: no session fixation). */
export function deleteSession(ctx: AppContext, id: string | undefined): void {
  if (!id || id.length > 100) return;
  ctx.db.delete(sessions).where(eq(sessions.idHash, tokenHash(id))).run();
}
