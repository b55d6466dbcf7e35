import { randomToken, tokenHash } from '@stack/crypto';
import type { AppContext } from '../context.ts';
import { mfaRequiredFor } from './second-factor.ts';
import type { UserRecord } from './users.ts';

export interface NewSession {
  /** The cookie value; only its SHA-256 is stored. */
  id: string;
  expiresAt: number;
}

/**
 * Starts a browser session for a user, lasting SESSION_TTL_SECONDS, recording the second factor it
 * was opened with (undefined: none). Expired sessions are swept here.
 */
export async function createSession(ctx: AppContext, userId: string, secondFactor?: string): Promise<NewSession> {
  const id = randomToken(32);
  const t = ctx.now();
  const expiresAt = t + ctx.config.sessionTtl * 1000;
  await ctx.store.sessions.create({ idHash: tokenHash(id), userId, createdAt: t, expiresAt, lastSeenAt: t, secondFactor: secondFactor ?? null }, t);
  return { id, expiresAt };
}

// A session's lastSeenAt is written at most this often, so page views do not each cost a write.
const SESSION_TOUCH_INTERVAL_MS = 5 * 60_000;

/** A live session of an enabled user: the user and the session's id hash (how the account page names it). */
export interface LiveSession {
  user: UserRecord;
  idHash: string;
}

/**
 * The live session with this id and its enabled user, or undefined for a missing, unknown or
 * expired id, and for a session opened without a second factor when the user's role now requires
 * one (mfa.required_roles gained the role, or the user was given such a role): the person signs in
 * again and passes the second factor before any consent or account page.
 */
export async function liveSession(ctx: AppContext, id: string | undefined): Promise<LiveSession | undefined> {
  if (!id || id.length > 100) return undefined;
  const t = ctx.now();
  const row = await ctx.store.sessions.findLive(tokenHash(id), t);
  if (!row) return undefined;
  const user = await ctx.store.users.findById(row.userId);
  if (!user || user.disabledAt !== null) return undefined;
  if (row.secondFactor === null && mfaRequiredFor(ctx, user.role)) return undefined;
  if (row.lastSeenAt === null || row.lastSeenAt < t - SESSION_TOUCH_INTERVAL_MS) {
    await ctx.store.sessions.touch(row.idHash, t, t - SESSION_TOUCH_INTERVAL_MS);
  }
  return { user, idHash: row.idHash };
}

/** The enabled user of a live session, or undefined for a missing, unknown or expired session id. */
export async function sessionUser(ctx: AppContext, id: string | undefined): Promise<UserRecord | undefined> {
  return (await liveSession(ctx, id))?.user;
}

/** A session as the account page lists it. */
export interface SessionView {
  idHash: string;
  createdAt: number;
  lastSeenAt: number | null;
  /** The session this list is shown in. */
  current: boolean;
}

/** The user's live sessions, newest first, the one `currentHash` names marked. */
export async function listSessions(ctx: AppContext, userId: string, currentHash: string): Promise<SessionView[]> {
  const rows = await ctx.store.sessions.listForUser(userId, ctx.now());
  return rows.map((r) => ({ idHash: r.idHash, createdAt: r.createdAt, lastSeenAt: r.lastSeenAt, current: r.idHash === currentHash }));
}

/** Ends one of the user's sessions by its id hash; another user's session is never touched. */
export function endSessionOf(ctx: AppContext, userId: string, idHash: string): Promise<boolean> {
  if (idHash.length > 100) return Promise.resolve(false);
  return ctx.store.sessions.deleteForUser(userId, idHash);
}

/** Ends every session of the user but `keepHash`; returns how many ended. */
export function endOtherSessions(ctx: AppContext, userId: string, keepHash: string): Promise<number> {
  return ctx.store.sessions.deleteOthersForUser(userId, keepHash);
}

/** Ends a session (used when a new one replaces it at login: no session fixation). */
export async function deleteSession(ctx: AppContext, id: string | undefined): Promise<void> {
  if (!id || id.length > 100) return;
  await ctx.store.sessions.delete(tokenHash(id));
}
