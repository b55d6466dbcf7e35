import { randomToken, tokenHash } from '@stack/crypto';
import type { AppContext } from '../context.ts';
import type { UserRecord } from './users.ts';

export interface NewSession {
  /** The cookie value; only its SHA-256 is stored. */
  id: string;
  expiresAt: number;
}

/** Starts a browser session for a user, lasting SESSION_TTL_SECONDS. Expired sessions are swept here. */
export async function createSession(ctx: AppContext, userId: string): Promise<NewSession> {
  const id = randomToken(32);
  const t = ctx.now();
  const expiresAt = t + ctx.config.sessionTtl * 1000;
  await ctx.store.sessions.create({ idHash: tokenHash(id), userId, createdAt: t, expiresAt, lastSeenAt: t }, t);
  return { id, expiresAt };
}

/** The enabled user of a live session, or undefined for a missing, unknown or expired session id. */
export async function sessionUser(ctx: AppContext, id: string | undefined): Promise<UserRecord | undefined> {
  if (!id || id.length > 100) return undefined;
  const row = await ctx.store.sessions.findLive(tokenHash(id), ctx.now());
  if (!row) return undefined;
  const user = await ctx.store.users.findById(row.userId);
  return user && user.disabledAt === null ? user : undefined;
}

/** Ends a session (used when a new one replaces it at login: no session fixation). */
export async function deleteSession(ctx: AppContext, id: string | undefined): Promise<void> {
  if (!id || id.length > 100) return;
  await ctx.store.sessions.delete(tokenHash(id));
}
