import type { FastifyPluginAsync } from 'fastify';
import { currentSession, hasPassword, sendAccountPage } from '../services/account-page.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { knownDevice } from '../services/page-cookies.ts';
import { checkCurrentPassword, passwordProblem, setPassword } from '../services/users.ts';
import { formParams } from '../plugins/form-body.ts';
import { ACCOUNT_PATH, pageErrorHandler, redirectToLogin, redirectToOwnPage } from '../views/pages.ts';
import { PageError } from '../views/render.ts';

const WRONG_CURRENT = 'The current password is incorrect.';

/**
 * POST /account/password (CSRF): a new password, with the current one (a session left open must
 * not be enough to take the account over). Wrong current passwords count against the same login
 * limits as the login form. The person's other sessions end.
 */
export const accountPasswordRoutes: FastifyPluginAsync = async (app) => {
  app.setErrorHandler(pageErrorHandler);

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/account/password', { preHandler: app.csrfProtection }, async (request, reply) => {
    const s = await currentSession(app, request);
    if (!s) return redirectToLogin(request, reply, ACCOUNT_PATH);
    // No current password to check (a federated account): an admin's reset link sets a first one.
    if (!hasPassword(s)) throw new PageError(400, 'No password to change', 'You sign in through your organization\'s identity provider and have no password here.');
    const params = formParams(request);
    const current = params.current_password ?? '';
    const next = params.new_password ?? '';
    const refuse = (error: string, status = 400) => sendAccountPage(app, reply, s, { error, status });
    const problem = passwordProblem(next);
    if (problem) return refuse(`The new ${problem}.`);
    if (next !== (params.confirm_password ?? '')) return refuse('The two new passwords differ. Type the same new password twice.');

    const email = s.user.email;
    const verdict = await app.pages.limiter.reserve({ account: email, address: request.ip, device: knownDevice(app, request, email) });
    if (verdict.outcome !== 'check') {
      reply.header('retry-after', String(verdict.retryAfter));
      return refuse(`Too many wrong passwords. Wait ${verdict.retryAfter} seconds and try again.`, 429);
    }
    const ok = await checkCurrentPassword(app.ctx, s.user, current).catch(async (err: unknown) => {
      await verdict.release();
      throw err;
    });
    if (!ok) {
      auditFlow(app, request, 'password.change_failed', { user: s.user.id, decision: 'deny', reason: 'wrong current password' });
      return refuse(WRONG_CURRENT);
    }
    await verdict.succeeded();
    const ended = await setPassword(app.ctx, s.user.id, next, s.idHash);
    auditFlow(app, request, 'password.changed', { user: s.user.id, decision: 'allow', sessions_ended: String(ended) });
    return redirectToOwnPage(request, reply, `${ACCOUNT_PATH}?done=password`);
  });
};
