import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { randomToken } from '@stack/crypto';

// The cookie names and the device tokens are the `pages` plugin's state (plugins/pages.ts).

/**
 * Every page cookie is HttpOnly, SameSite=Lax (the cross-site redirect into /authorize must carry
 * it) and Path=/; Secure (and so `__Host-` prefixed, see the plugin) with secure cookies.
 */
function setPageCookie(app: FastifyInstance, reply: FastifyReply, name: string, value: string, maxAge: number): void {
  reply.setCookie(name, value, { path: '/', httpOnly: true, sameSite: 'lax', secure: app.ctx.config.secureCookies, maxAge });
}

/** Reads the session id cookie (the raw id; only its hash is stored). */
export function sessionId(app: FastifyInstance, request: FastifyRequest): string | undefined {
  return request.cookies[app.pages.sessionCookie];
}

/** Sets the session cookie for the session's lifetime. */
export function setSessionCookie(app: FastifyInstance, reply: FastifyReply, id: string): void {
  setPageCookie(app, reply, app.pages.sessionCookie, id, app.ctx.config.sessionTtl);
}

// randomToken(32): 43 base64url characters. Anything else in the cookie is ignored and replaced.
const BINDING_FORMAT = /^[A-Za-z0-9_-]{43}$/;

/** The browser-binding cookie sent with this request, when well formed. */
export function browserBinding(app: FastifyInstance, request: FastifyRequest): string | undefined {
  const v = request.cookies[app.pages.bindingCookie];
  return v !== undefined && BINDING_FORMAT.test(v) ? v : undefined;
}

/**
 * The value to bind a new pending request to (RFC 9700 §4.7): this browser's existing binding, so
 * two sign-ins open in two tabs both stay valid, or a new random one. The cookie is (re)set for the
 * pending lifetime.
 */
export function bindBrowser(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply): string {
  const value = browserBinding(app, request) ?? randomToken(32);
  setPageCookie(app, reply, app.pages.bindingCookie, value, app.ctx.config.authorize.ttlSeconds);
  return value;
}

/** The device id of this browser's device cookie when it is valid for `account`. */
export function knownDevice(app: FastifyInstance, request: FastifyRequest, account: string): string | undefined {
  return app.pages.devices.verify(request.cookies[app.pages.deviceCookie], account, app.ctx.now());
}

/**
 * After a successful sign-in: a new device cookie for `account` (replacing one for any other
 * account), for LOGIN_DEVICE_COOKIE_TTL_SECONDS.
 */
export function setDeviceCookie(app: FastifyInstance, reply: FastifyReply, account: string): void {
  setPageCookie(app, reply, app.pages.deviceCookie, app.pages.devices.issue(account, app.ctx.now()), app.ctx.config.login.deviceCookieTtlSeconds);
}

/** Removes the session cookie (sign-out). */
export function clearSessionCookie(app: FastifyInstance, reply: FastifyReply): void {
  reply.clearCookie(app.pages.sessionCookie, { path: '/', httpOnly: true, sameSite: 'lax', secure: app.ctx.config.secureCookies });
}
