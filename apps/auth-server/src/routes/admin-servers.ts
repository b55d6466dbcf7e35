import type { FastifyPluginAsync } from 'fastify';
import { adminOf, sendAdminPage, useAdminGuard } from '../services/admin-console.ts';
import { adminServers } from '../services/admin-servers.ts';

/** GET /admin/servers: the protected MCP servers of the stack file and their rules (read-only; the file is the place to change them). */
export const adminServersRoutes: FastifyPluginAsync = async (app) => {
  useAdminGuard(app);

  app.get('/admin/servers', async (request, reply) => {
    const s = adminOf(request);
    return sendAdminPage(reply, 'admin-servers', '/admin/servers', s, { title: 'Protected servers', servers: adminServers(app.ctx) });
  });
};
