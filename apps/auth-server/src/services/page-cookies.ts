import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { open, randomToken, seal, type Envelope } from '@stack/crypto';

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

/** Removes a page cookie (set with setPageCookie's attributes). */
export function clearPageCookie(app: FastifyInstance, reply: FastifyReply, name: string): void {
  reply.clearCookie(name, { path: '/', httpOnly: true, sameSite: 'lax', secure: app.ctx.config.secureCookies });
}

/** Removes the session cookie (sign-out). */
export function clearSessionCookie(app: FastifyInstance, reply: FastifyReply): void {
  clearPageCookie(app, reply, app.pages.sessionCookie);
}

/**
 * A state this browser carries between two of our pages and nobody else can read, forge or alter:
 * sealed (AES-256-GCM, authenticated) with the key-encryption key under `context`, so one kind of
 * sealed cookie is never accepted as another, in a page cookie that lapses at `value.expiresAt`.
 */
export function setSealedCookie(app: FastifyInstance, reply: FastifyReply, name: string, context: string, value: { expiresAt: number }): void {
  const env = seal(app.ctx.keks[0]!, JSON.stringify(value), context);
  const maxAge = Math.max(1, Math.ceil((value.expiresAt - app.ctx.now()) / 1000));
  setPageCookie(app, reply, name, Buffer.from(JSON.stringify(env)).toString('base64url'), maxAge);
}

/** The value of a sealed cookie when present, at most `maxLength` characters, ours (under `context`) and unexpired. */
export function readSealedCookie<T extends { expiresAt: number }>(app: FastifyInstance, request: FastifyRequest, name: string, context: string, maxLength: number): T | undefined {
  const raw = request.cookies[name];
  if (!raw || raw.length > maxLength) return undefined;
  try {
    const env = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Envelope;
    const value = JSON.parse(open(app.ctx.keks, env, context).toString('utf8')) as T;
    return typeof value.expiresAt === 'number' && value.expiresAt > app.ctx.now() ? value : undefined;
  } catch {
    return undefined;
  }
}
