import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { formParams } from '../plugins/form-body.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { passkeyName } from '../services/mfa-pages.ts';
import { registerPasskey } from '../services/passkeys.ts';
import { enrolledFactors, hasSecondFactor } from '../services/second-factor.ts';
import { afterAccountEnrollment, requireAccountUser, sendSecurityPage } from '../services/security-page.ts';
import { pageErrorHandler } from '../views/pages.ts';

/** POST /account/passkeys: registers a passkey for the signed-in person. */
export const accountPasskeyRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/account/passkeys', { preHandler: app.csrfProtection }, async (request, reply) => {
    const user = await requireAccountUser(app, request);
    const hadFactor = hasSecondFactor(await enrolledFactors(app.ctx, user.id));
    const params = formParams(request);
    const result = await registerPasskey(app.ctx, user, params.response ?? '', passkeyName(app, params.name));
    if (!result.ok) {
      auditFlow(app, request, 'mfa.failed', { user: user.id, method: 'passkey', decision: 'deny', reason: `enrollment: ${result.reason}` });
      return sendSecurityPage(app, reply, user, { error: 'The passkey could not be added. Try again.', status: 400 });
    }
    return afterAccountEnrollment(app, request, reply, user, 'passkey', hadFactor);
  });
};
