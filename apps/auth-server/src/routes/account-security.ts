import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { requireAccountUser, sendSecurityPage } from '../services/security-page.ts';
import { pageErrorHandler } from '../views/pages.ts';

/** GET /account/security: the signed-in person's authenticator app, passkeys and recovery codes. */
export const accountSecurityRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);
  app.get('/account/security', async (request, reply) => sendSecurityPage(app, reply, await requireAccountUser(app, request)));
};
