import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendMessage, sendPage } from '../views/render.ts';
import { listConnectedApps } from './connected-apps.ts';
import { NO_PASSWORD } from './federation-accounts.ts';
import { sessionId } from './page-cookies.ts';
import { liveSession, listSessions, type LiveSession } from './sessions.ts';

// The account page (GET /account) and what its forms (routes/account-*.ts) share: who is signed
// in, and the page itself, shown again with an error when a form is refused.

/** The signed-in person's live session in this browser, if any. */
export function currentSession(app: FastifyInstance, request: FastifyRequest): Promise<LiveSession | undefined> {
  return liveSession(app.ctx, sessionId(app, request));
}

/** A time for people: the date and minute in UTC, or `never`. */
export function shownTime(ms: number | null | undefined): string {
  if (ms == null) return 'never';
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** What a form did, shown on the account page it redirects to (`?done=`). */
export const NOTICES = {
  revoked: 'The application’s access was revoked. It must ask you again to use your account.',
  'session-ended': 'That session was signed out.',
  'others-ended': 'You were signed out everywhere else.',
  password: 'Your password was changed, and you were signed out everywhere else.',
} as const;

export type Notice = keyof typeof NOTICES;

export function noticeOf(value: unknown): string | undefined {
  return typeof value === 'string' && Object.hasOwn(NOTICES, value) ? NOTICES[value as Notice] : undefined;
}

/** Whether the person has a password here (an account made at a federated sign-in has none until an admin sets one). */
export function hasPassword(s: LiveSession): boolean {
  return s.user.passwordHash !== NO_PASSWORD;
}

/** Renders the account page for `s`; `error` (with status 400) when the password form was refused. */
export async function sendAccountPage(
  app: FastifyInstance, reply: FastifyReply, s: LiveSession, o: { notice?: string | undefined; error?: string; status?: number } = {},
): Promise<FastifyReply> {
  const [sessions, apps] = await Promise.all([listSessions(app.ctx, s.user.id, s.idHash), listConnectedApps(app.ctx, s.user.id)]);
  return sendPage(reply, 'account', {
    title: 'Your account',
    email: s.user.email,
    signedIn: s.user.email,
    notice: o.notice,
    error: o.error,
    csrf: reply.generateCsrf(),
    hasPassword: hasPassword(s),
    sessions: sessions.map((x) => ({ ...x, created: shownTime(x.createdAt), lastSeen: shownTime(x.lastSeenAt ?? x.createdAt) })),
    apps: apps.map((a) => ({ ...a, granted: shownTime(a.grantedAt), lastUsed: shownTime(a.lastUsedAt) })),
  }, { status: o.status ?? 200 });
}

/** The page after signing out (or when there was nothing to sign out of), with a way back in. */
export function sendSignedOut(reply: FastifyReply, root: string): FastifyReply {
  return sendMessage(reply, 200, {
    title: 'You are signed out',
    message: 'You are signed out in this browser. Applications you allowed keep their access until you revoke it on your account page.',
    link: { href: `${root}login`, text: 'Sign in again' },
  });
}
