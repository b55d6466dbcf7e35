import type { FastifyPluginAsync } from 'fastify';
import { ADMIN_PAGES, ADMIN_ROLE, adminOf, sendAdminPage, useAdminGuard } from '../services/admin-console.ts';
import { mfaRequiredFor } from '../services/second-factor.ts';

/** GET /admin: the admin console's overview, a list of its sections (admins only, services/admin-console.ts). */
export const adminRoutes: FastifyPluginAsync = async (app) => {
  useAdminGuard(app);

  app.get('/admin', async (request, reply) => {
    const s = adminOf(request);
    return sendAdminPage(reply, 'admin-overview', '/admin', s, {
      title: 'Admin console',
      sections: ADMIN_PAGES.filter((p) => p.path !== '/admin').map((p) => ({ href: p.path.slice(1), label: p.label })),
      mfaRequired: mfaRequiredFor(app.ctx, ADMIN_ROLE),
    });
  });
};
