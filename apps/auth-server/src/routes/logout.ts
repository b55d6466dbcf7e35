import type { FastifyPluginAsync } from 'fastify';
import { currentSession, sendSignedOut } from '../services/account-page.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { clearSessionCookie, sessionId } from '../services/page-cookies.ts';
import { deleteSession } from '../services/sessions.ts';
import { pageErrorHandler } from '../views/pages.ts';
import { pageRoot, sendPage } from '../views/render.ts';

// Sign-out. We issue no ID tokens, so there is no RP-initiated logout endpoint (OpenID Connect
// RP-Initiated Logout 1.0) to advertise: this is the person's own sign-out of our pages.

/** GET /logout asks to confirm (a GET changes nothing); POST /logout (CSRF) ends this browser's session. */
export const logoutRoutes: FastifyPluginAsync = async (app) => {
  app.setErrorHandler(pageErrorHandler);

  app.get('/logout', async (request, reply) => {
    const s = await currentSession(app, request);
    if (!s) return sendSignedOut(reply, pageRoot(request.url));
    return sendPage(reply, 'logout', { title: 'Sign out', email: s.user.email, csrf: reply.generateCsrf() });
  });

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/logout', { preHandler: app.csrfProtection }, async (request, reply) => {
    const id = sessionId(app, request);
    const s = await currentSession(app, request);
    await deleteSession(app.ctx, id);
    clearSessionCookie(app, reply);
    if (s) auditFlow(app, request, 'logout', { user: s.user.id, decision: 'allow' });
    return sendSignedOut(reply, pageRoot(request.url));
  });
};
