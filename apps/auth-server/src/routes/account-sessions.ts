import type { FastifyPluginAsync } from 'fastify';
import { currentSession } from '../services/account-page.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { endOtherSessions, endSessionOf } from '../services/sessions.ts';
import { formParams } from '../plugins/form-body.ts';
import { ACCOUNT_PATH, pageErrorHandler, redirectToLogin, redirectToOwnPage } from '../views/pages.ts';
import { PageError } from '../views/render.ts';

/** POST /account/sessions (CSRF): signs out one of the person's other sessions (`session` = its id hash) or all of them (`others`). */
export const accountSessionsRoutes: FastifyPluginAsync = async (app) => {
  app.setErrorHandler(pageErrorHandler);

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/account/sessions', { preHandler: app.csrfProtection }, async (request, reply) => {
    const s = await currentSession(app, request);
    if (!s) return redirectToLogin(request, reply, ACCOUNT_PATH);
    const which = formParams(request).session ?? '';
    if (which === 'others') {
      const ended = await endOtherSessions(app.ctx, s.user.id, s.idHash);
      auditFlow(app, request, 'logout.others', { user: s.user.id, decision: 'allow', sessions: String(ended) });
      return redirectToOwnPage(request, reply, `${ACCOUNT_PATH}?done=others-ended`);
    }
    // This browser's own session is ended by Sign out (POST /logout), which also clears its cookie.
    if (!which || which === s.idHash) throw new PageError(400, 'Invalid request', 'Choose another session to sign out, or use Sign out for this browser.');
    if (await endSessionOf(app.ctx, s.user.id, which)) auditFlow(app, request, 'logout.session', { user: s.user.id, decision: 'allow' });
    return redirectToOwnPage(request, reply, `${ACCOUNT_PATH}?done=session-ended`);
  });
};
