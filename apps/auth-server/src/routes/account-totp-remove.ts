import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { auditFlow } from '../services/authorization-flow.ts';
import { dropRecoveryCodesIfNoFactor, enrolledFactors, mayRemoveFactor } from '../services/second-factor.ts';
import { requireAccountUser, sendSecurityPage } from '../services/security-page.ts';
import { pageErrorHandler } from '../views/pages.ts';

/** POST /account/totp-remove: turns the authenticator app off, unless it is the last factor of a role that requires one. */
export const accountTotpRemoveRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/account/totp-remove', { preHandler: app.csrfProtection }, async (request, reply) => {
    const user = await requireAccountUser(app, request);
    const factors = await enrolledFactors(app.ctx, user.id);
    if (!factors.totp) return sendSecurityPage(app, reply, user);
    if (!mayRemoveFactor(app.ctx, user, factors)) {
      auditFlow(app, request, 'mfa.remove_refused', { user: user.id, method: 'totp', decision: 'deny', reason: 'last factor of a role that requires one' });
      return sendSecurityPage(app, reply, user, { error: 'Your role requires a second step: add a passkey before removing the authenticator app.', status: 409 });
    }
    await app.ctx.store.mfa.deleteTotp(user.id);
    await dropRecoveryCodesIfNoFactor(app.ctx, user.id);
    auditFlow(app, request, 'mfa.removed', { user: user.id, method: 'totp', decision: 'allow' });
    return sendSecurityPage(app, reply, user, { notice: 'The authenticator app was removed.' });
  });
};
