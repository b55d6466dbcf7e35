import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { formParams } from '../plugins/form-body.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { afterSignInEnrollment, requireEnrollment, sendEnrollPage, sendMfaLocked } from '../services/mfa-pages.ts';
import { confirmTotp } from '../services/second-factor.ts';
import { pageErrorHandler } from '../views/pages.ts';

/**
 * GET /login/enroll: a person whose role requires a second factor and who has none sets one up
 * before the sign-in goes on (there is no way past it); POST confirms an authenticator app with its
 * first code. Passkeys are added at /login/enroll-passkey.
 */
export const loginEnrollRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);

  app.get('/login/enroll', async (request, reply) => {
    const { user } = await requireEnrollment(app, request);
    return sendEnrollPage(app, reply, user);
  });

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/login/enroll', { preHandler: app.csrfProtection }, async (request, reply) => {
    const { half, user } = await requireEnrollment(app, request);
    const attempt = await app.ctx.mfaLimiter.reserve(user.id);
    if (attempt.outcome === 'locked') return sendMfaLocked(app, request, reply, user.id, attempt.retryAfter);
    if (!(await confirmTotp(app.ctx, user.id, (formParams(request).code ?? '').slice(0, 64)))) {
      auditFlow(app, request, 'mfa.failed', { user: user.id, method: 'totp', decision: 'deny', reason: 'wrong enrollment code' });
      return sendEnrollPage(app, reply, user, 'That code is not right. Check the key in your app and the time on your device, then try the code now shown.');
    }
    await attempt.succeeded();
    return afterSignInEnrollment(app, request, reply, half, user, 'totp');
  });
};
