import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { adminOf, doneNotice, sendAdminPage, useAdminGuard } from '../services/admin-console.ts';
import { adminUserGrants } from '../services/admin-user.ts';
import { shownTime } from '../services/account-page.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { revokeConnectedApp } from '../services/connected-apps.ts';
import { formParams } from '../plugins/form-body.ts';
import { redirectToOwnPage } from '../views/pages.ts';
import { PageError } from '../views/render.ts';

const NOTICES = {
  revoked: 'The grant was revoked: the application must ask this person again, and its tokens for them were revoked.',
} as const;

// User ids are UUIDs (users.ts); anything unlike an id names no user and is never looked up.
const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;

function userIdOf(request: FastifyRequest): string {
  const id = (request.params as { id?: string }).id ?? '';
  if (!USER_ID.test(id)) throw new PageError(404, 'No such user', 'There is no user with that id.');
  return id;
}

/**
 * GET /admin/users/:id: one person's grants (what they allowed each client: scopes, resources, when),
 * their live sessions and refresh-token families, read through the services of their own account
 * page. POST /admin/users/:id (CSRF): revokes what they allowed one client, as their own Revoke does
 * (connected-apps.ts), audited grant.revoked with the acting admin.
 */
export const adminUserRoutes: FastifyPluginAsync = async (app) => {
  useAdminGuard(app);

  app.get('/admin/users/:id', async (request, reply) => {
    const s = adminOf(request);
    const g = await adminUserGrants(app.ctx, userIdOf(request));
    if (!g) throw new PageError(404, 'No such user', 'There is no user with that id.');
    return sendAdminPage(reply, 'admin-user', '/admin/users', s, {
      title: `Grants of ${g.user.email}`,
      notice: doneNotice(NOTICES, (request.query as Record<string, unknown>).done),
      email: g.user.email,
      userId: g.user.id,
      role: g.user.role,
      status: g.user.disabledAt === null ? 'enabled' : 'disabled',
      apps: g.apps.map((a) => ({ ...a, granted: shownTime(a.grantedAt), lastUsed: shownTime(a.lastUsedAt) })),
      sessions: g.sessions.map((x) => ({ created: shownTime(x.createdAt), lastSeen: shownTime(x.lastSeenAt ?? x.createdAt) })),
      families: g.families.map((f) => ({ ...f, issued: shownTime(f.createdAt), expires: shownTime(f.expiresAt) })),
    });
  });

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/admin/users/:id', { preHandler: app.csrfProtection }, async (request, reply) => {
    const s = adminOf(request);
    const userId = userIdOf(request);
    const form = formParams(request);
    const clientId = form.client ?? '';
    if (!clientId || clientId.length > 2048 || form.action !== 'revoke') throw new PageError(400, 'Invalid request', 'Choose a grant to revoke.');
    const user = await app.ctx.store.users.findById(userId);
    if (!user) throw new PageError(404, 'No such user', 'There is no user with that id.');
    const r = await revokeConnectedApp(app.ctx, userId, clientId);
    // The account page's event and fields (routes/account-apps.ts), with the admin who acted.
    auditFlow(app, request, 'grant.revoked', {
      user: userId, client: clientId, by: s.user.id, decision: 'allow',
      revoked_consents: String(r.consents), revoked_refresh: String(r.refreshTokens), revoked_access: String(r.accessTokens),
    });
    return redirectToOwnPage(request, reply, `/admin/users/${userId}?done=revoked`);
  });
};
