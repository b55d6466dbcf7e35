import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { auditFlow } from '../services/authorization-flow.ts';
import { sendRecoveryCodes } from '../services/mfa-pages.ts';
import { issueRecoveryCodes } from '../services/recovery-codes.ts';
import { enrolledFactors, hasSecondFactor } from '../services/second-factor.ts';
import { requireAccountUser, sendSecurityPage } from '../services/security-page.ts';
import { pageErrorHandler } from '../views/pages.ts';

/** POST /account/recovery-codes: new recovery codes replacing all the old ones, shown once. */
export const accountRecoveryCodeRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/account/recovery-codes', { preHandler: app.csrfProtection }, async (request, reply) => {
    const user = await requireAccountUser(app, request);
    if (!hasSecondFactor(await enrolledFactors(app.ctx, user.id))) {
      return sendSecurityPage(app, reply, user, { error: 'Set up an authenticator app or a passkey first: recovery codes come with it.', status: 409 });
    }
    const codes = await issueRecoveryCodes(app.ctx, user.id);
    auditFlow(app, request, 'mfa.recovery_codes_replaced', { user: user.id, decision: 'allow' });
    return sendRecoveryCodes(reply, codes);
  });
};
