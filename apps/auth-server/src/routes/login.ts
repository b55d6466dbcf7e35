import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import { createSession, deleteSession } from '../services/sessions.ts';
import { findUserByEmail, verifyPassword } from '../services/users.ts';
import type { AuthorizationRequest } from '../services/authorization-request.ts';
import { formParams } from '../plugins/form-body.ts';
import { knownDevice, pageErrorHandler, sessionId, setDeviceCookie, setSessionCookie } from '../plugins/pages.ts';
import { cspOrigin, sendMessage, sendPage } from '../views/render.ts';
import { auditFlow, continueAuthorization, pendingRequest } from './consent.ts';

// One message for an unknown email and a wrong password: the page must not reveal which accounts exist.
const BAD_CREDENTIALS = 'The email or password is incorrect. Check both and try again.';

function loginPage(reply: FastifyReply, id: string, req: AuthorizationRequest, email: string, error?: string, status = 200): FastifyReply {
  // The login POST may end in a redirect to the client (remembered consent), so its origin is allowed.
  const origin = cspOrigin(req.redirectUri);
  return sendPage(reply, 'login', {
    title: 'Sign in',
    clientName: req.clientName,
    email,
    error,
    csrf: reply.generateCsrf(),
    requestId: id,
  }, { formOrigins: origin ? [origin] : [], status });
}

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
function delayPage(reply: FastifyReply, id: string, req: AuthorizationRequest, email: string, seconds: number): FastifyReply {
  reply.header('retry-after', String(seconds));
  const message = `This account has had many failed sign-in attempts, so sign-ins from new devices are slowed down. Wait ${seconds} second${seconds === 1 ? '' : 's'}, then sign in again.`;
  return loginPage(reply, id, req, email, message, 429);
}

/** GET /login shows the form for a pending authorization request; POST /login checks the password. */
export const loginRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);
  const { ctx } = app;

  app.get('/login', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const id = typeof query.request === 'string' ? query.request : undefined;
    const req = await pendingRequest(app, request, id);
    return loginPage(reply, id!, req, '');
  });

  app.post('/login', { preHandler: app.csrfProtection }, async (request, reply) => {
    const params = formParams(request);
    const id = params.request;
    const req = await pendingRequest(app, request, id);
    const email = (params.email ?? '').trim().slice(0, 320);
    const password = params.password ?? '';
    if (!email || !password) return loginPage(reply, id!, req, email, BAD_CREDENTIALS);

    // Reserved before the password is checked: a locked address or device, or a wait, costs no argon2 work.
    // A browser that signed in to this account before (its device cookie) has a budget of its own.
    const device = knownDevice(app, request, email);
    const verdict = await app.pages.limiter.reserve({ account: email, address: request.ip, device });
    if (verdict.outcome === 'locked') {
      auditFlow(app, request, 'login.rate_limited', { client: req.clientId, decision: 'deny', reason: 'too many failed logins' });
      return waitPage(reply, verdict.retryAfter);
    }
    if (verdict.outcome === 'delayed') {
      auditFlow(app, request, 'login.delayed', { client: req.clientId, decision: 'deny', reason: 'account under attack: new devices wait' });
      return delayPage(reply, id!, req, email, verdict.retryAfter);
    }

    // An undecided attempt (a full argon2 queue: 503) gives its reservations back.
    const user = await verifyPassword(ctx.store, email, password).catch(async (err: unknown) => {
      await verdict.release();
      throw err;
    });
    if (!user) {
      const known = await findUserByEmail(ctx.store, email);
      auditFlow(app, request, 'login.failed', {
        user: known?.id,
        client: req.clientId,
        decision: 'deny',
        reason: known ? (known.disabledAt === null ? 'wrong password' : 'user disabled') : 'unknown email',
      });
      return loginPage(reply, id!, req, email, BAD_CREDENTIALS);
    }

    await verdict.succeeded();
    setDeviceCookie(app, reply, email);
    // A fresh session id at every login, and the old one ended (session fixation).
    await deleteSession(ctx, sessionId(app, request));
    const session = await createSession(ctx, user.id);
    setSessionCookie(app, reply, session.id);
    auditFlow(app, request, 'login.succeeded', { user: user.id, client: req.clientId, decision: 'allow' });
    return continueAuthorization(app, request, reply, req, user, id, true);
  });
};
