import type { FastifyPluginAsync } from 'fastify';
import { adminClientsPage, CLIENT_FILTERS, clientFilterOf } from '../services/admin-clients.ts';
import { adminOf, doneNotice, pageParam, pagerOf, sendAdminPage, useAdminGuard } from '../services/admin-console.ts';
import { shownTime } from '../services/account-page.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { approveClient, ClientAdminError, revokeClient } from '../services/client-admin.ts';
import { formParams } from '../plugins/form-body.ts';
import { redirectToOwnPage } from '../views/pages.ts';
import { PageError } from '../views/render.ts';

const NOTICES = {
  approved: 'The client was approved: people can sign in with it now.',
  revoked: 'The client was revoked: it can no longer sign anyone in, and its tokens were revoked.',
} as const;

const STATUS_LABELS = { active: 'active', pending: 'pending approval', revoked: 'revoked' } as const;

// A metadata-document client's id is its URL: at most 2048 characters, as the other client forms take.
const MAX_CLIENT_ID = 2048;

/**
 * GET /admin/clients: one page of clients (every kind: registered, metadata document, admin-created),
 * filtered by status; POST /admin/clients (CSRF): approves a pending client or revokes one, as the
 * CLI's `clients approve` and `clients revoke` do, with the same audit events and the acting admin.
 */
export const adminClientsRoutes: FastifyPluginAsync = async (app) => {
  useAdminGuard(app);

  app.get('/admin/clients', async (request, reply) => {
    const s = adminOf(request);
    const query = request.query as Record<string, unknown>;
    const page = pageParam(query.page);
    const status = clientFilterOf(query.status);
    const { clients, more } = await adminClientsPage(app.ctx, status, page);
    return sendAdminPage(reply, 'admin-clients', '/admin/clients', s, {
      title: 'Clients',
      notice: doneNotice(NOTICES, query.done),
      ...pagerOf(page, more),
      filters: CLIENT_FILTERS.map((f) => ({ value: f, label: f === 'pending' ? 'pending approval' : f, current: f === status })),
      // Kept in the pager's links.
      filterQuery: status === 'all' ? '' : `status=${status}&`,
      registrationMode: app.ctx.config.registration.mode,
      clients: clients.map((c) => ({
        ...c,
        statusLabel: STATUS_LABELS[c.status],
        created: shownTime(c.createdAt),
        lastUsed: shownTime(c.lastUsedAt),
        revoked: c.revokedAt === null ? undefined : shownTime(c.revokedAt),
      })),
    });
  });

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/admin/clients', { preHandler: app.csrfProtection }, async (request, reply) => {
    const s = adminOf(request);
    const form = formParams(request);
    const clientId = form.client ?? '';
    const action = form.action;
    if (!clientId || clientId.length > MAX_CLIENT_ID || (action !== 'approve' && action !== 'revoke')) {
      throw new PageError(400, 'Invalid request', 'Choose a client and Approve or Revoke.');
    }
    if (action === 'approve') {
      let r: Awaited<ReturnType<typeof approveClient>>;
      try {
        r = await approveClient(app.ctx.store, clientId);
      } catch (err) {
        if (err instanceof ClientAdminError) throw new PageError(409, 'Not possible', `This client cannot be approved: ${err.message}.`);
        throw err;
      }
      // The CLI's event and fields (cli/clients.ts), with the admin who acted; nothing changed, nothing audited.
      if (!r.alreadyApproved) auditFlow(app, request, 'admin.client_approved', { client: r.clientId, client_name: r.clientName, by: s.user.id, decision: 'allow' });
      return redirectToOwnPage(request, reply, '/admin/clients?done=approved');
    }
    const r = await revokeClient(app.ctx.store, clientId, app.ctx.now());
    if (!r) throw new PageError(404, 'No such client', 'There is no client with that id.');
    auditFlow(app, request, 'admin.client_revoked', {
      client: clientId, by: s.user.id, decision: 'allow', revoked_refresh: String(r.refreshTokens), revoked_access: String(r.accessTokens),
    });
    return redirectToOwnPage(request, reply, '/admin/clients?done=revoked');
  });
};
