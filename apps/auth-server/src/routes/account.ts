import type { FastifyPluginAsync } from 'fastify';
import { currentSession, noticeOf, sendAccountPage } from '../services/account-page.ts';
import { ACCOUNT_PATH, pageErrorHandler, redirectToLogin } from '../views/pages.ts';

/** GET /account: the person's sessions, the applications they allowed, and their password; sign-in first. */
export const accountRoutes: FastifyPluginAsync = async (app) => {
  app.setErrorHandler(pageErrorHandler);

  app.get('/account', async (request, reply) => {
    const s = await currentSession(app, request);
    if (!s) return redirectToLogin(request, reply, ACCOUNT_PATH);
    return sendAccountPage(app, reply, s, { notice: noticeOf((request.query as Record<string, unknown>).done) });
  });
};
