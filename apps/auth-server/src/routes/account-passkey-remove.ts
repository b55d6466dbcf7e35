import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { formParams } from '../plugins/form-body.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { dropRecoveryCodesIfNoFactor, enrolledFactors, mayRemoveFactor } from '../services/second-factor.ts';
import { requireAccountUser, sendSecurityPage } from '../services/security-page.ts';
import { pageErrorHandler } from '../views/pages.ts';

/** POST /account/passkey-remove: removes one of the signed-in person's passkeys, unless it is the last factor of a role that requires one. */
export const accountPasskeyRemoveRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/account/passkey-remove', { preHandler: app.csrfProtection }, async (request, reply) => {
    const user = await requireAccountUser(app, request);
    const id = (formParams(request).id ?? '').slice(0, 1024);
    const factors = await enrolledFactors(app.ctx, user.id);
    if (!factors.passkeys.some((p) => p.id === id)) return sendSecurityPage(app, reply, user, { error: 'That passkey is not one of yours, or was removed already.', status: 404 });
    if (!mayRemoveFactor(app.ctx, user, factors)) {
      auditFlow(app, request, 'mfa.remove_refused', { user: user.id, method: 'passkey', decision: 'deny', reason: 'last factor of a role that requires one' });
      return sendSecurityPage(app, reply, user, { error: 'Your role requires a second step: add another passkey or an authenticator app before removing this one.', status: 409 });
    }
    await app.ctx.store.mfa.deletePasskey(user.id, id);
    await dropRecoveryCodesIfNoFactor(app.ctx, user.id);
    auditFlow(app, request, 'mfa.removed', { user: user.id, method: 'passkey', decision: 'allow', passkey: id });
    return sendSecurityPage(app, reply, user, { notice: 'The passkey was removed.' });
  });
};
