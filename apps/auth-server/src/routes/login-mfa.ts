import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { formParams } from '../plugins/form-body.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { requireHalfSignIn, sendMfaLocked, sendMfaPage } from '../services/mfa-pages.ts';
import { checkRecoveryCode, checkTotp } from '../services/second-factor.ts';
import { completeSecondFactor, halfSignInUser } from '../services/sign-in.ts';
import { pageErrorHandler } from '../views/pages.ts';

const WRONG = {
  totp: 'That code is not right. Check the time on your device and try the code now shown.',
  recovery_code: 'That recovery code is not right, or was used already.',
} as const;
const REPLAYED = 'That code was used already. Wait for the next code from your app.';

/** GET /login/mfa shows the second step of a half sign-in; POST checks a TOTP code or a recovery code. */
export const loginMfaRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);

  app.get('/login/mfa', async (request, reply) => {
    const half = requireHalfSignIn(app, request);
    return sendMfaPage(app, request, reply, half, await halfSignInUser(app, half));
  });

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/login/mfa', { preHandler: app.csrfProtection }, async (request, reply) => {
    const half = requireHalfSignIn(app, request);
    const user = await halfSignInUser(app, half);
    const params = formParams(request);
    const method = params.method === 'recovery_code' ? 'recovery_code' : 'totp';
    const code = (params.code ?? '').slice(0, 64);
    // Reserved before the code is checked: parallel guesses cannot overshoot the limit.
    const attempt = await app.ctx.mfaLimiter.reserve(user.id);
    if (attempt.outcome === 'locked') return sendMfaLocked(app, request, reply, user.id, attempt.retryAfter);
    const result = method === 'totp' ? await checkTotp(app.ctx, user.id, code) : await checkRecoveryCode(app.ctx, user.id, code);
    if (result !== 'ok') {
      auditFlow(app, request, 'mfa.failed', { user: user.id, method, decision: 'deny', reason: result === 'replayed' ? 'code used already' : 'wrong code' });
      return sendMfaPage(app, request, reply, half, user, result === 'replayed' ? REPLAYED : WRONG[method]);
    }
    await attempt.succeeded();
    auditFlow(app, request, 'mfa.succeeded', { user: user.id, method, decision: 'allow' });
    return completeSecondFactor(app, request, reply, half, method);
  });
};
