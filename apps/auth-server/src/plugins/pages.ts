import { readFileSync } from 'node:fs';
import fp from 'fastify-plugin';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { randomToken } from '@stack/crypto';
import { OAuthError } from '@stack/oauth';
import { StoreUnavailableError } from '@stack/redis';
import { PendingAuthorizations } from '../services/pending-authorizations.ts';
import { createLoginLimiter, type LoginLimiter } from '../services/login-limiter.ts';
import { createDeviceTokens, type DeviceTokens } from '../services/login-devices.ts';
import { ICON, PageError, STYLESHEET, cspOrigin, sendMessage } from '../views/render.ts';

/** State shared by the browser pages (/authorize, /login, /consent). */
export interface PagesState {
  pending: PendingAuthorizations;
  limiter: LoginLimiter;
  /** Cookie names: `__Host-` prefixed when cookies are Secure (no Domain, Path=/ enforced by browsers). */
  sessionCookie: string;
  /** The browser-binding cookie that ties pending requests to the browser that started them. */
  bindingCookie: string;
  /** The device cookie: a browser that signed in to an account before (login-devices.ts). */
  deviceCookie: string;
  devices: DeviceTokens;
}

declare module 'fastify' {
  interface FastifyInstance {
    pages: PagesState;
  }
}

/** Reads the session id cookie (the raw id; only its hash is stored). */
export function sessionId(app: FastifyInstance, request: FastifyRequest): string | undefined {
  return request.cookies[app.pages.sessionCookie];
}

/** Sets the session cookie: HttpOnly, SameSite=Lax (the cross-site redirect into /authorize must carry it), Path=/. */
export function setSessionCookie(app: FastifyInstance, reply: FastifyReply, id: string): void {
  reply.setCookie(app.pages.sessionCookie, id, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: app.ctx.config.secureCookies,
    maxAge: app.ctx.config.sessionTtl,
  });
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
 * pending lifetime: HttpOnly, SameSite=Lax, Path=/, Secure and `__Host-` prefixed with secure cookies.
 */
export function bindBrowser(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply): string {
  const value = browserBinding(app, request) ?? randomToken(32);
  reply.setCookie(app.pages.bindingCookie, value, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: app.ctx.config.secureCookies,
    maxAge: app.ctx.config.authorize.ttlSeconds,
  });
  return value;
}

/** The device id of this browser's device cookie when it is valid for `account`. */
export function knownDevice(app: FastifyInstance, request: FastifyRequest, account: string): string | undefined {
  return app.pages.devices.verify(request.cookies[app.pages.deviceCookie], account, app.ctx.now());
}

/**
 * After a successful sign-in: a new device cookie for `account` (replacing one for any other
 * account), for LOGIN_DEVICE_COOKIE_TTL_SECONDS. HttpOnly, SameSite=Lax, Path=/, Secure and
 * `__Host-` prefixed with secure cookies, like the session cookie.
 */
export function setDeviceCookie(app: FastifyInstance, reply: FastifyReply, account: string): void {
  reply.setCookie(app.pages.deviceCookie, app.pages.devices.issue(account, app.ctx.now()), {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: app.ctx.config.secureCookies,
    maxAge: app.ctx.config.login.deviceCookieTtlSeconds,
  });
}

/**
 * Sends the browser to the client's (verified) redirect URI. After a form POST, Chromium checks
 * form-action on the redirect, which the page allowed through its origin; an origin CSP cannot
 * express (an IPv6 loopback literal) gets a page with a link instead, which is a new navigation.
 */
export function redirectToClient(reply: FastifyReply, url: string, afterForm: boolean): FastifyReply {
  if (!afterForm) return reply.header('cache-control', 'no-store').redirect(url, 302);
  if (cspOrigin(url)) return reply.header('cache-control', 'no-store').redirect(url, 303);
  return sendMessage(reply, 200, {
    title: 'Return to the application',
    message: 'Your decision was recorded. Continue to go back to the application.',
    link: { href: url, text: 'Continue' },
  });
}

/** Error handler for page routes: HTML pages, never JSON and never a redirect. */
export function pageErrorHandler(this: FastifyInstance, err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof PageError) return sendMessage(reply, err.status, { title: err.title, message: err.message, detail: err.detail });
  if (err.code === 'FST_CSRF_MISSING_SECRET' || err.code === 'FST_CSRF_INVALID_TOKEN') {
    request.log.info({ code: err.code }, 'form rejected: csrf');
    return sendMessage(reply, 403, {
      title: 'This form could not be accepted',
      message: 'The form has expired or was not sent from this site. Go back to the application and start again.',
    });
  }
  if ((err instanceof OAuthError && err.code === 'temporarily_unavailable') || err instanceof StoreUnavailableError) {
    // A shared store (Redis limits, the PostgreSQL database) is down: refuse the attempt rather than let it through uncounted.
    reply.header('retry-after', String(err.retryAfter ?? 5));
    return sendMessage(reply, 503, { title: 'Temporarily unavailable', message: 'Sign-in is briefly unavailable. Please try again in a few seconds.' });
  }
  if (err instanceof OAuthError && err.code === 'rate_limited') {
    reply.header('retry-after', String(err.retryAfter ?? 60));
    return sendMessage(reply, 429, { title: 'Too many sign-in requests', message: 'Too many sign-in requests came from your network. Wait a minute and try again.' });
  }
  if (err instanceof OAuthError && err.expose) {
    return sendMessage(reply, err.status >= 400 && err.status < 500 ? err.status : 400, { title: 'Invalid request', message: 'The request could not be processed.', detail: err.description });
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return sendMessage(reply, err.statusCode, { title: 'Invalid request', message: 'The request could not be processed.' });
  }
  request.log.error({ err }, 'unexpected error on a page');
  return sendMessage(reply, 500, { title: 'Something went wrong', message: 'The server could not complete this request. Please try again later.' });
}

/** Cookies, CSRF tokens (secret in an HttpOnly cookie, token in each form), login limits, pending requests, CSS. */
export const pages = fp(
  async (app) => {
    const { config } = app.ctx;
    const secure = config.secureCookies;
    await app.register(cookie);
    await app.register(csrf, {
      cookieKey: secure ? '__Host-csrf' : 'csrf',
      cookieOpts: { path: '/', httpOnly: true, sameSite: 'lax', secure },
    });
    app.decorate('pages', {
      pending: new PendingAuthorizations(app.ctx.store.pending, app.ctx.now, config.authorize, app.ctx.limiters),
      limiter: createLoginLimiter(config.login, app.ctx.limiters, app.ctx.gates, app.ctx.now),
      sessionCookie: secure ? '__Host-sid' : 'sid',
      bindingCookie: secure ? '__Host-flow' : 'flow',
      deviceCookie: secure ? '__Host-device' : 'device',
      devices: createDeviceTokens(app.ctx.keks, config.login.deviceCookieTtlSeconds),
    } satisfies PagesState);

    const css = readFileSync(STYLESHEET);
    app.get('/assets/app.css', async (_request, reply) => {
      return reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(css);
    });
    // Browsers ask for an icon on every page; without one each page load logs a 404.
    const icon = readFileSync(ICON);
    app.get('/assets/icon.svg', async (_request, reply) => {
      return reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(icon);
    });
  },
  { name: 'pages', dependencies: ['error-handler', 'security-headers'] },
);
