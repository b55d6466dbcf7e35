import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { open, seal, type Envelope } from '@stack/crypto';

/** How long a person has, after the first factor, to pass (or enroll) the second. */
export const HALF_SIGN_IN_SECONDS = 5 * 60;

const CONTEXT = 'half-sign-in';
// A sealed envelope is a few hundred characters; anything much larger is not ours.
const MAX_COOKIE_LENGTH = 2000;

/**
 * A sign-in whose first factor passed and whose second has not yet: no session exists. Kept in this
 * browser only, in an HttpOnly cookie sealed (AES-256-GCM, authenticated) with the key-encryption
 * key, so it can be neither read nor forged nor altered, and it lapses after HALF_SIGN_IN_SECONDS.
 */
export interface HalfSignIn {
  userId: string;
  /** How the first factor was proved ('password', a provider's name), for the audit line. */
  method: string;
  /** The account a device cookie is kept for once the sign-in completes. */
  deviceAccount?: string | undefined;
  /** The pending authorization request the sign-in continues, if any… */
  pendingId?: string | undefined;
  /** …else the validated local path a standalone sign-in goes to. */
  next?: string | undefined;
  /** A factor enrolled during this sign-in (its recovery codes are on screen): the second factor is passed. */
  passed?: string | undefined;
  expiresAt: number;
}

const cookieName = (app: FastifyInstance) => (app.ctx.config.secureCookies ? '__Host-mfa' : 'mfa');

/** Holds the half sign-in in this browser for HALF_SIGN_IN_SECONDS (from the first factor, not renewed). */
export function holdHalfSignIn(app: FastifyInstance, reply: FastifyReply, h: Omit<HalfSignIn, 'expiresAt'> & { expiresAt?: number }): void {
  const expiresAt = h.expiresAt ?? app.ctx.now() + HALF_SIGN_IN_SECONDS * 1000;
  const env = seal(app.ctx.keks[0]!, JSON.stringify({ ...h, expiresAt }), CONTEXT);
  const value = Buffer.from(JSON.stringify(env)).toString('base64url');
  const maxAge = Math.max(1, Math.ceil((expiresAt - app.ctx.now()) / 1000));
  reply.setCookie(cookieName(app), value, { path: '/', httpOnly: true, sameSite: 'lax', secure: app.ctx.config.secureCookies, maxAge });
}

/** This browser's live half sign-in, or undefined (none, expired, or not one we sealed). */
export function halfSignIn(app: FastifyInstance, request: FastifyRequest): HalfSignIn | undefined {
  const value = request.cookies[cookieName(app)];
  if (!value || value.length > MAX_COOKIE_LENGTH) return undefined;
  try {
    const env = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Envelope;
    const h = JSON.parse(open(app.ctx.keks, env, CONTEXT).toString('utf8')) as HalfSignIn;
    return typeof h.userId === 'string' && typeof h.expiresAt === 'number' && h.expiresAt > app.ctx.now() ? h : undefined;
  } catch {
    return undefined;
  }
}

export function clearHalfSignIn(app: FastifyInstance, reply: FastifyReply): void {
  reply.clearCookie(cookieName(app), { path: '/', httpOnly: true, sameSite: 'lax', secure: app.ctx.config.secureCookies });
}
