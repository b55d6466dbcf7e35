import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { nextPath, pageErrorHandler, redirectToLogin } from '../views/pages.ts';
import { PageError, sendPage, type Template } from '../views/render.ts';
import { auditFlow } from './authorization-flow.ts';
import { sessionId } from './page-cookies.ts';
import { liveSession, type LiveSession } from './sessions.ts';

/*
 * The admin console (/admin): what every admin page shares: the guard, the navigation and the
 * rendering within the admin layout (views/admin-layout.eta).
 *
 * Adding a page (e.g. /admin/clients):
 *   1. views/admin-clients.eta starting with `<% layout('./admin-layout') %>`, and 'admin-clients'
 *      added to the Template union in views/render.ts.
 *   2. routes/admin-clients.ts: a plugin that calls `useAdminGuard(app)` first (it sets the pages'
 *      error handler and the guard for every route of the plugin), then its routes; a handler gets
 *      the admin with `adminOf(request)` and answers with `sendAdminPage(reply, 'admin-clients', …)`.
 *      Every POST also takes `{ preHandler: app.csrfProtection }`, its forms carry `it.csrf`, and
 *      it writes an audit line (auditFlow) for what it changed.
 *   3. One entry in ADMIN_PAGES below (the navigation shows only pages that exist), and the
 *      register() in app.ts.
 * Lists read one bounded page at a time (pageParam, ADMIN_PAGE_SIZE): never every row.
 */

/** The role that may use the console. */
export const ADMIN_ROLE = 'admin';

/** The console's pages in navigation order; `path` is absolute, below the pages' root. */
export const ADMIN_PAGES = [
  { path: '/admin', label: 'Overview' },
  { path: '/admin/users', label: 'Users' },
  { path: '/admin/clients', label: 'Clients' },
  { path: '/admin/keys', label: 'Signing keys' },
  { path: '/admin/servers', label: 'Servers' },
  { path: '/admin/audit', label: 'Audit log' },
] as const;

export type AdminPath = (typeof ADMIN_PAGES)[number]['path'];

/** Rows per page of the console's lists. */
export const ADMIN_PAGE_SIZE = 50;
// Far beyond any real list at ADMIN_PAGE_SIZE; bounds the OFFSET a request can ask the database for.
const MAX_PAGE = 10_000;

/** The 1-based page number of a list from `?page=`: anything else is page 1. */
export function pageParam(value: unknown): number {
  const n = typeof value === 'string' && /^[1-9][0-9]{0,4}$/.test(value) ? Number(value) : 1;
  return Math.min(n, MAX_PAGE);
}

/** The pager of a list's page: this page's number, and the previous and next pages when they exist. */
export function pagerOf(page: number, more: boolean): { page: number; previous: number | undefined; next: number | undefined } {
  return { page, previous: page > 1 ? page - 1 : undefined, next: more ? page + 1 : undefined };
}

/** The notice a page shows after its form redirected to it with `?done=<key>`; undefined for any other value. */
export function doneNotice(notices: Readonly<Record<string, string>>, value: unknown): string | undefined {
  return typeof value === 'string' && Object.hasOwn(notices, value) ? notices[value] : undefined;
}

const admins = new WeakMap<FastifyRequest, LiveSession>();

/** The signed-in admin of a request the guard let through (a route of a plugin that called useAdminGuard). */
export function adminOf(request: FastifyRequest): LiveSession {
  const s = admins.get(request);
  if (!s) throw new Error('admin route without the admin guard');
  return s;
}

/**
 * The guard of every admin route. A live session is required (sessions.ts liveSession: a session
 * opened without a second factor does not count when mfa.required_roles holds the role, so such an
 * admin signs in again through the second step); none sends the browser to /login, back here after.
 * A signed-in person who is not an admin gets a 403 page, audited.
 */
function adminGuard(app: FastifyInstance): preHandlerAsyncHookHandler {
  return async (request, reply) => {
    // The route's own registered path (never the request's text), to come back to after signing in.
    const path = request.routeOptions.url ?? '/admin';
    const s = await liveSession(app.ctx, sessionId(app, request));
    if (!s) return redirectToLogin(request, reply, nextPath(path));
    if (s.user.role !== ADMIN_ROLE) {
      auditFlow(app, request, 'admin.refused', { user: s.user.id, role: s.user.role, path, decision: 'deny' });
      throw new PageError(403, 'Not allowed', 'The admin console is only for administrators. Your account does not have the admin role.');
    }
    admins.set(request, s);
  };
}

/** Guards every route of this (encapsulated) route plugin, and renders its errors as pages. */
export function useAdminGuard(app: FastifyInstance): void {
  app.setErrorHandler(pageErrorHandler);
  app.addHook('preHandler', adminGuard(app));
}

/** Renders an admin page within the admin layout, `current` marked in the navigation. */
export function sendAdminPage(reply: FastifyReply, template: Template, current: AdminPath, s: LiveSession, data: Record<string, unknown>): FastifyReply {
  return sendPage(reply, template, {
    signedIn: s.user.email,
    csrf: reply.generateCsrf(),
    wide: true,
    nav: ADMIN_PAGES.map((p) => ({ href: p.path.slice(1), label: p.label, current: p.path === current })),
    ...data,
  });
}
