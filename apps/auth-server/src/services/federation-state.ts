import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { clearPageCookie, readSealedCookie, setSealedCookie } from './page-cookies.ts';

/**
 * What a sign-in at an upstream provider must come back with: the pending authorization request it
 * continues (or, for a standalone sign-in, the account page to go to), and the `state`, `nonce` and PKCE verifier sent with it. Kept in this browser only, in
 * a cookie sealed with the key-encryption key (AES-256-GCM: neither readable nor changeable), for
 * ten minutes, and cleared when the provider sends the person back, so it serves one callback.
 */
export interface FederationState {
  /** The provider's slug: a state made for one provider is refused at another's callback. */
  provider: string;
  /** The pending authorization request id; undefined for a standalone sign-in. */
  pendingId: string | undefined;
  /** A standalone sign-in's page to go to afterwards (validated again at the callback). */
  next: string | undefined;
  state: string;
  nonce: string;
  verifier: string;
  /** ms */
  expiresAt: number;
}

const TTL_MS = 600_000;
const CONTEXT = 'auth-server federation state v1';
const MAX_COOKIE = 2048;

const cookieName = (app: FastifyInstance) => (app.ctx.config.secureCookies ? '__Host-federation' : 'federation');

/** Seals `s` into the cookie (SameSite=Lax: the provider's redirect back is a top-level navigation, which carries it). */
export function setFederationState(app: FastifyInstance, reply: FastifyReply, s: Omit<FederationState, 'expiresAt'>): void {
  setSealedCookie(app, reply, cookieName(app), CONTEXT, { ...s, expiresAt: app.ctx.now() + TTL_MS });
}

/** The state this browser holds for `provider`, if any, unexpired and intact; the cookie is cleared either way. */
export function takeFederationState(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, provider: string): FederationState | undefined {
  if (request.cookies[cookieName(app)] === undefined) return undefined;
  clearPageCookie(app, reply, cookieName(app));
  const s = readSealedCookie<FederationState>(app, request, cookieName(app), CONTEXT, MAX_COOKIE);
  return s?.provider === provider ? s : undefined;
}
