import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { signedInUser } from '../services/authorization-flow.ts';
import { sendSecurityPage } from '../services/security-page.ts';
import { pageErrorHandler, redirectToLogin } from '../views/pages.ts';

const PATH = '/account/security';

/** GET /account/security: the signed-in person's authenticator app, passkeys and recovery codes; sign-in first. */
export const accountSecurityRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);
  app.get(PATH, async (request, reply) => {
    const user = await signedInUser(app, request);
    if (!user) return redirectToLogin(request, reply, PATH);
    return sendSecurityPage(app, reply, user);
  });
};
