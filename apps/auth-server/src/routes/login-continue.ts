import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { auditFlow } from '../services/authorization-flow.ts';
import { requireHalfSignIn } from '../services/mfa-pages.ts';
import { completeSecondFactor } from '../services/sign-in.ts';
import { PageError } from '../views/render.ts';
import { pageErrorHandler } from '../views/pages.ts';

/** POST /login/continue: after the recovery codes of a factor enrolled during sign-in were shown, the sign-in goes on. */
export const loginContinueRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/login/continue', { preHandler: app.csrfProtection }, async (request, reply) => {
    const half = requireHalfSignIn(app, request);
    if (half.passed === undefined) throw new PageError(400, 'The second step is not done', 'Go back to the application and sign in again.');
    auditFlow(app, request, 'mfa.succeeded', { user: half.userId, method: half.passed, decision: 'allow', reason: 'enrolled during sign-in' });
    return completeSecondFactor(app, request, reply, half, half.passed);
  });
};
