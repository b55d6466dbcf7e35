import type { FastifyPluginAsync } from 'fastify';
import { adminOf, doneNotice, pageParam, pagerOf, sendAdminPage, useAdminGuard } from '../services/admin-console.ts';
import { adminUsersPage } from '../services/admin-users.ts';
import { shownTime } from '../services/account-page.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { disableUser, enableUser } from '../services/user-admin.ts';
import { normaliseEmail } from '../services/users.ts';
import { formParams } from '../plugins/form-body.ts';
import { redirectToOwnPage } from '../views/pages.ts';
import { PageError } from '../views/render.ts';

const NOTICES = {
  disabled: 'The user was disabled: they were signed out everywhere and their tokens were revoked.',
  enabled: 'The user was enabled. Tokens revoked earlier stay revoked.',
} as const;

// An email is at most 254 characters (RFC 5321 §4.5.3.1); longer input is no user.
const MAX_EMAIL = 320;

/** GET /admin/users: one page of users; POST /admin/users (CSRF): disables or enables one (services/user-admin.ts, as the CLI does). */
export const adminUsersRoutes: FastifyPluginAsync = async (app) => {
  useAdminGuard(app);

  app.get('/admin/users', async (request, reply) => {
    const s = adminOf(request);
    const query = request.query as Record<string, unknown>;
    const page = pageParam(query.page);
    const { users, more } = await adminUsersPage(app.ctx, page);
    return sendAdminPage(reply, 'admin-users', '/admin/users', s, {
      title: 'Users',
      notice: doneNotice(NOTICES, query.done),
      ...pagerOf(page, more),
      users: users.map((u) => ({ ...u, created: shownTime(u.createdAt), self: u.id === s.user.id })),
    });
  });

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/admin/users', { preHandler: app.csrfProtection }, async (request, reply) => {
    const s = adminOf(request);
    const form = formParams(request);
    const email = form.user ?? '';
    const action = form.action;
    if (!email || email.length > MAX_EMAIL || (action !== 'disable' && action !== 'enable')) {
      throw new PageError(400, 'Invalid request', 'Choose a user and Disable or Enable.');
    }
    // Disabling one's own account would end this session and lock the console's last door.
    if (action === 'disable' && normaliseEmail(email) === s.user.email) {
      throw new PageError(400, 'Not possible', 'You cannot disable your own account. Ask another administrator.');
    }
    if (action === 'disable') {
      const r = await disableUser(app.ctx.store, email, app.ctx.now());
      if (!r) throw new PageError(404, 'No such user', 'There is no user with that email.');
      // The CLI's event and fields (cli/users.ts), with the admin who acted.
      auditFlow(app, request, 'admin.user_disabled', {
        user: r.user.id, email: r.user.email, by: s.user.id, decision: 'allow',
        revoked_sessions: String(r.revoked.sessions), revoked_refresh: String(r.revoked.refreshTokens), revoked_access: String(r.revoked.accessTokens),
      });
      return redirectToOwnPage(request, reply, '/admin/users?done=disabled');
    }
    const r = await enableUser(app.ctx.store, email);
    if (!r) throw new PageError(404, 'No such user', 'There is no user with that email.');
    auditFlow(app, request, 'admin.user_enabled', { user: r.user.id, email: r.user.email, by: s.user.id, decision: 'allow' });
    return redirectToOwnPage(request, reply, '/admin/users?done=enabled');
  });
};
