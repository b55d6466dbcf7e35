import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { formParams } from '../plugins/form-body.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { afterSignInEnrollment, passkeyName, requireEnrollment, sendEnrollPage } from '../services/mfa-pages.ts';
import { registerPasskey } from '../services/passkeys.ts';
import { pageErrorHandler } from '../views/pages.ts';

/** POST /login/enroll-passkey: the person who must enroll registers a passkey as their second factor. */
export const loginEnrollPasskeyRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/login/enroll-passkey', { preHandler: app.csrfProtection }, async (request, reply) => {
    const { half, user } = await requireEnrollment(app, request);
    const params = formParams(request);
    const result = await registerPasskey(app.ctx, user, params.response ?? '', passkeyName(app, params.name));
    if (!result.ok) {
      auditFlow(app, request, 'mfa.failed', { user: user.id, method: 'passkey', decision: 'deny', reason: `enrollment: ${result.reason}` });
      return sendEnrollPage(app, reply, user, 'The passkey could not be added. Try again, or set up an authenticator app.');
    }
    return afterSignInEnrollment(app, request, reply, half, user, 'passkey');
  });
};
