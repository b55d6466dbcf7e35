import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { formParams } from '../plugins/form-body.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { requireHalfSignIn, sendMfaLocked, sendMfaPage } from '../services/mfa-pages.ts';
import { verifyPasskey } from '../services/passkeys.ts';
import { completeSecondFactor, halfSignInUser } from '../services/sign-in.ts';
import { pageErrorHandler } from '../views/pages.ts';

/** POST /login/passkey: the second step of a half sign-in with one of the person's passkeys. */
export const loginPasskeyRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/login/passkey', { preHandler: app.csrfProtection }, async (request, reply) => {
    const half = requireHalfSignIn(app, request);
    const user = await halfSignInUser(app, half);
    const attempt = await app.ctx.mfaLimiter.reserve(user.id);
    if (attempt.outcome === 'locked') return sendMfaLocked(app, request, reply, user.id, attempt.retryAfter);
    const result = await verifyPasskey(app.ctx, user.id, formParams(request).response ?? '');
    if (!result.ok) {
      auditFlow(app, request, 'mfa.failed', { user: user.id, method: 'passkey', decision: 'deny', reason: result.reason });
      return sendMfaPage(app, request, reply, half, user, 'The passkey could not be verified. Try again, or use another way.');
    }
    await attempt.succeeded();
    auditFlow(app, request, 'mfa.succeeded', { user: user.id, method: 'passkey', decision: 'allow', passkey: result.value.id });
    return completeSecondFactor(app, request, reply, half, 'passkey');
  });
};
