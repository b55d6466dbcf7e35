import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { formParams } from '../plugins/form-body.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { confirmTotp, enrolledFactors, hasSecondFactor } from '../services/second-factor.ts';
import { afterAccountEnrollment, requireAccountUser, sendSecurityPage } from '../services/security-page.ts';
import { pageErrorHandler } from '../views/pages.ts';

/** POST /account/totp: turns the authenticator app on with the first code it shows. */
export const accountTotpRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/account/totp', { preHandler: app.csrfProtection }, async (request, reply) => {
    const user = await requireAccountUser(app, request);
    const hadFactor = hasSecondFactor(await enrolledFactors(app.ctx, user.id));
    if (!(await confirmTotp(app.ctx, user.id, (formParams(request).code ?? '').slice(0, 64)))) {
      auditFlow(app, request, 'mfa.failed', { user: user.id, method: 'totp', decision: 'deny', reason: 'wrong enrollment code' });
      return sendSecurityPage(app, reply, user, { error: 'That code is not right. Check the key in your app and the time on your device, then try the code now shown.', status: 400 });
    }
    return afterAccountEnrollment(app, request, reply, user, 'totp', hadFactor);
  });
};
