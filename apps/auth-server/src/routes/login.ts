import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { auditFlow, signedInUser } from '../services/authorization-flow.ts';
import type { LoginVerdict } from '../services/login-limiter.ts';
import { knownDevice } from '../services/page-cookies.ts';
import { completeSignIn, signInTarget, type AfterSignIn } from '../services/sign-in.ts';
import { findUserByEmail, verifyPassword, type UserRecord } from '../services/users.ts';
import { formParams } from '../plugins/form-body.ts';
import { pageErrorHandler, redirectToOwnPage } from '../views/pages.ts';
import { cspOrigin, sendMessage, sendPage } from '../views/render.ts';

// One message for an unknown email and a wrong password: the page must not reveal which accounts exist.
const BAD_CREDENTIALS = 'The email or password is incorrect. Check both and try again.';

function loginPage(reply: FastifyReply, to: AfterSignIn, email: string, error?: string, status = 200): FastifyReply {
  const req = 'request' in to ? to.request : undefined;
  // The login POST may end in a redirect to the client (remembered consent), so its origin is allowed.
  const origin = req ? cspOrigin(req.redirectUri) : undefined;
  const stack = reply.server.ctx.stack.current();
  return sendPage(reply, 'login', {
    title: 'Sign in',
    clientName: req?.clientName,
    email,
    error,
    csrf: reply.generateCsrf(),
    requestId: 'request' in to ? to.id : undefined,
    next: 'next' in to ? to.next : undefined,
    passwordLogin: stack.passwordLogin,
    // "Continue with <name>": links to /federation/<slug>/start for this pending request, or for a standalone sign-in going to `next`.
    providers: stack.identityProviders.map((p) => ({ name: p.name, href: `federation/${p.slug}/start?${'request' in to ? `request=${encodeURIComponent(to.id)}` : `next=${encodeURIComponent(to.next)}`}` })),
  }, { formOrigins: origin ? [origin] : [], status });
}

const clientOf = (to: AfterSignIn) => ('request' in to ? to.request.clientId : undefined);

function waitPage(reply: FastifyReply, seconds: number): FastifyReply {
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  reply.header('retry-after', String(seconds));
  return sendMessage(reply, 429, {
    title: 'Too many attempts',
    message: `Too many sign-in attempts. Wait ${minutes} minute${minutes === 1 ? '' : 's'} and try again.`,
  });
}

/**
 * An account under attack delays attempts from browsers it does not know (login-limiter.ts): the
 * form again, with how long to wait. Nothing was checked or counted; after the wait the same form
 * is checked as usual.
 */
function delayPage(reply: FastifyReply, to: AfterSignIn, email: string, seconds: number): FastifyReply {
  reply.header('retry-after', String(seconds));
  const message = `This account has had many failed sign-in attempts, so sign-ins from new devices are slowed down. Wait ${seconds} second${seconds === 1 ? '' : 's'}, then sign in again.`;
  return loginPage(reply, to, email, message, 429);
}

/** The email (trimmed, at most 320 characters) and password of the form. */
function credentials(params: Record<string, string>): { email: string; password: string } {
  return { email: (params.email ?? '').trim().slice(0, 320), password: params.password ?? '' };
}

/**
 * Reserved before the password is checked: a locked address or device, or a wait, costs no argon2 work.
 * A browser that signed in to this account before (its device cookie) has a budget of its own.
 */
function reserveAttempt(app: FastifyInstance, request: FastifyRequest, email: string): Promise<LoginVerdict> {
  const device = knownDevice(app, request, email);
  return app.pages.limiter.reserve({ account: email, address: request.ip, device });
}

/** The user when the password is right; an undecided attempt (a full argon2 queue: 503) gives its reservations back. */
function checkPassword(app: FastifyInstance, verdict: LoginVerdict & { outcome: 'check' }, email: string, password: string): Promise<UserRecord | undefined> {
  return verifyPassword(app.ctx, email, password).catch(async (err: unknown) => {
    await verdict.release();
    throw err;
  });
}

async function auditFailedLogin(app: FastifyInstance, request: FastifyRequest, to: AfterSignIn, email: string): Promise<void> {
  const known = await findUserByEmail(app.ctx.store, email);
  auditFlow(app, request, 'login.failed', {
    user: known?.id,
    client: clientOf(to),
    decision: 'deny',
    reason: known ? (known.disabledAt === null ? 'wrong password' : 'user disabled') : 'unknown email',
  });
}

/**
 * GET /login shows the form, for a pending authorization request (`?request=`) or on its own (then
 * going to `next`, one of our account pages, afterwards); POST /login checks the password.
 */
export const loginRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);

  app.get('/login', async (request, reply) => {
    const to = await signInTarget(app, request, request.query as Record<string, unknown>);
    // Already signed in: a standalone sign-in has nothing to do.
    if ('next' in to && (await signedInUser(app, request))) return redirectToOwnPage(request, reply, to.next);
    return loginPage(reply, to, '');
  });

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/login', { preHandler: app.csrfProtection }, async (request, reply) => {
    const params = formParams(request);
    const to = await signInTarget(app, request, params);
    const { email, password } = credentials(params);
    if (!app.ctx.stack.current().passwordLogin) {
      // password_login: false — no password is checked, whatever is posted.
      auditFlow(app, request, 'login.failed', { client: clientOf(to), decision: 'deny', reason: 'password login is switched off' });
      return loginPage(reply, to, '', 'Sign-in with a password is switched off here. Use one of the options below.', 403);
    }
    if (!email || !password) return loginPage(reply, to, email, BAD_CREDENTIALS);

    const verdict = await reserveAttempt(app, request, email);
    if (verdict.outcome === 'locked') {
      auditFlow(app, request, 'login.rate_limited', { client: clientOf(to), decision: 'deny', reason: 'too many failed logins' });
      return waitPage(reply, verdict.retryAfter);
    }
    if (verdict.outcome === 'delayed') {
      auditFlow(app, request, 'login.delayed', { client: clientOf(to), decision: 'deny', reason: 'account under attack: new devices wait' });
      return delayPage(reply, to, email, verdict.retryAfter);
    }

    const user = await checkPassword(app, verdict, email, password);
    if (!user) {
      await auditFailedLogin(app, request, to, email);
      return loginPage(reply, to, email, BAD_CREDENTIALS);
    }

    await verdict.succeeded();
    return completeSignIn(app, request, reply, user, { method: 'password', deviceAccount: email }, to);
  });
};
