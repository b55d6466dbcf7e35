import { readFileSync } from 'node:fs';
import fp from 'fastify-plugin';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import { PendingAuthorizations } from '../services/pending-authorizations.ts';
import { createLoginLimiter, type LoginLimiter } from '../services/login-limiter.ts';
import { createDeviceTokens, type DeviceTokens } from '../services/login-devices.ts';
import { ICON, STYLESHEET, createPageViews, type PageViews } from '../views/render.ts';

/**
 * State shared by the browser pages (/authorize, /login, /consent). The helpers that read and set
 * these cookies are in services/page-cookies.ts; the pages' error handler is in views/pages.ts.
 */
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
  /** The page templates and their cache (views/render.ts sendPage). */
  views: PageViews;
}

declare module 'fastify' {
  interface FastifyInstance {
    pages: PagesState;
  }
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
      views: createPageViews(),
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
