import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { auditFlow } from '../services/authorization-flow.ts';
import { clearSessionCookie } from '../services/page-cookies.ts';
import { resetLinkUser, resetWithLink, RESET_PATH } from '../services/password-resets.ts';
import { findUserById, type UserRecord } from '../services/users.ts';
import { formParams, queryParams } from '../plugins/form-body.ts';
import { pageErrorHandler } from '../views/pages.ts';
import { PageError, pageRoot, sendMessage, sendPage } from '../views/render.ts';

const unusable = () => new PageError(400, 'This link cannot be used',
  'This password link has expired or was already used. Ask your administrator for a new one.');

function resetPage(reply: FastifyReply, user: UserRecord, token: string, error?: string): FastifyReply {
  return sendPage(reply, 'reset-password', { title: 'Choose a new password', email: user.email, token, error, csrf: reply.generateCsrf() }, { status: error ? 400 : 200 });
}

/**
 * GET /reset-password?token= shows the form of a reset link an admin made (`users reset-link`);
 * POST sets the password (CSRF), using the link up and ending every session of the person.
 */
export const resetPasswordRoutes: FastifyPluginAsync = async (app) => {
  app.setErrorHandler(pageErrorHandler);
  const { ctx } = app;

  /** The enabled user a usable link is for, else the "cannot be used" page. */
  async function linkUser(token: string): Promise<UserRecord> {
    const userId = await resetLinkUser(ctx.store, token, ctx.now());
    const user = userId ? await findUserById(ctx.store, userId) : undefined;
    if (!user || user.disabledAt !== null) throw unusable();
    return user;
  }

  app.get(RESET_PATH, async (request, reply) => {
    const token = queryParams(request).token ?? '';
    return resetPage(reply, await linkUser(token), token);
  });

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post(RESET_PATH, { preHandler: app.csrfProtection }, async (request, reply) => {
    const params = formParams(request);
    const token = params.token ?? '';
    const user = await linkUser(token).catch((err: unknown) => {
      auditFlow(app, request, 'password.reset_refused', { decision: 'deny', reason: 'link unknown, used or expired' });
      throw err;
    });
    const password = params.new_password ?? '';
    if (password !== (params.confirm_password ?? '')) return resetPage(reply, user, token, 'The two passwords differ. Type the same password twice.');
    let userId: string | undefined;
    try {
      userId = await resetWithLink(ctx, token, password, ctx.now());
    } catch (err) {
      if (err instanceof TypeError) return resetPage(reply, user, token, `The ${err.message}.`);
      throw err;
    }
    // Used by a concurrent request between the check above and now.
    if (!userId) throw unusable();
    clearSessionCookie(app, reply);
    auditFlow(app, request, 'password.reset', { user: userId, decision: 'allow' });
    return sendMessage(reply, 200, {
      title: 'Your password was set',
      message: 'Your new password is set and every earlier session was signed out. Sign in with the new password.',
      link: { href: `${pageRoot(request.url)}login`, text: 'Sign in' },
    });
  });
};
