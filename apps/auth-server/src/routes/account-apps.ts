import type { FastifyPluginAsync } from 'fastify';
import { currentSession } from '../services/account-page.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { revokeConnectedApp } from '../services/connected-apps.ts';
import { formParams } from '../plugins/form-body.ts';
import { ACCOUNT_PATH, pageErrorHandler, redirectToLogin, redirectToOwnPage } from '../views/pages.ts';
import { PageError } from '../views/render.ts';

/**
 * POST /account/apps (CSRF): "Revoke" on the account page. Forgets what this person allowed the
 * client and revokes its tokens for this person only (RFC 7009 §2.1: the grant's access tokens go
 * with it); other people's grants to the same client are untouched.
 */
export const accountAppsRoutes: FastifyPluginAsync = async (app) => {
  app.setErrorHandler(pageErrorHandler);

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/account/apps', { preHandler: app.csrfProtection }, async (request, reply) => {
    const s = await currentSession(app, request);
    if (!s) return redirectToLogin(request, reply, ACCOUNT_PATH);
    const clientId = formParams(request).client ?? '';
    if (!clientId || clientId.length > 2048) throw new PageError(400, 'Invalid request', 'Choose an application to revoke.');
    const r = await revokeConnectedApp(app.ctx, s.user.id, clientId);
    auditFlow(app, request, 'grant.revoked', {
      user: s.user.id, client: clientId, decision: 'allow',
      revoked_consents: String(r.consents), revoked_refresh: String(r.refreshTokens), revoked_access: String(r.accessTokens),
    });
    return redirectToOwnPage(request, reply, `${ACCOUNT_PATH}?done=revoked`);
  });
};
