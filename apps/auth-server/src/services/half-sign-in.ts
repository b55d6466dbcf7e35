import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { clearPageCookie, readSealedCookie, setSealedCookie } from './page-cookies.ts';

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
  setSealedCookie(app, reply, cookieName(app), CONTEXT, { ...h, expiresAt: h.expiresAt ?? app.ctx.now() + HALF_SIGN_IN_SECONDS * 1000 });
}

/** This browser's live half sign-in, or undefined (none, expired, or not one we sealed). */
export function halfSignIn(app: FastifyInstance, request: FastifyRequest): HalfSignIn | undefined {
  const h = readSealedCookie<HalfSignIn>(app, request, cookieName(app), CONTEXT, MAX_COOKIE_LENGTH);
  return typeof h?.userId === 'string' ? h : undefined;
}

export function clearHalfSignIn(app: FastifyInstance, reply: FastifyReply): void {
  clearPageCookie(app, reply, cookieName(app));
}
