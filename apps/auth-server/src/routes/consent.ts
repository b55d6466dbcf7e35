import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError, SCOPE_DESCRIPTIONS, accessDenied, formatScope, isLoopbackRedirect } from '@stack/oauth';
import { addressLimitKey } from '@stack/redis';
import {
  codeRedirectUrl, errorRedirectUrl, grantableScopes, type AuthorizationRequest,
} from '../services/authorization-request.ts';
import { hasConsent, rememberConsent } from '../services/consents.ts';
import { sessionUser } from '../services/sessions.ts';
import type { UserRecord } from '../services/users.ts';
import { formParams } from '../plugins/form-body.ts';
import { bindBrowser, browserBinding, pageErrorHandler, redirectToClient, sessionId } from '../plugins/pages.ts';
import { PageError, cspOrigin, sendMessage, sendPage } from '../views/render.ts';

type Decision = 'allow' | 'deny';

/**
 * The pending request named by a form or link, or a page saying it expired; refused (400) unless
 * this browser started it (RFC 9700 §4.7: a request sent to someone else must not complete).
 */
export async function pendingRequest(app: FastifyInstance, request: FastifyRequest, id: string | undefined): Promise<AuthorizationRequest> {
  const found = await app.pages.pending.get(id, browserBinding(app, request));
  if (!found) {
    throw new PageError(400, 'This sign-in request has expired',
      'It took too long, or the request was already used. Go back to the application and start again.');
  }
  if (!found.sameBrowser) {
    auditFlow(app, request, 'authorize.browser_mismatch', { client: found.request.clientId, decision: 'deny', reason: 'sign-in started in another browser' });
    throw new PageError(400, 'This sign-in was started in another browser', 'This sign-in was started in another browser. Start again from the application.');
  }
  return found.request;
}

/** Audit line for the browser flow; never secrets (the audit sink redacts secret-looking keys anyway). */
export function auditFlow(app: FastifyInstance, request: FastifyRequest, event: string, f: Record<string, string | undefined>): void {
  app.ctx.audit.write({ event, address: request.ip, ...f });
}

/**
 * Audit line for a failure anyone can cause without credentials (a bad /authorize request): the
 * first few per address and interval are written like auditFlow's, the rest counted in a summary.
 */
export function auditUnauthenticated(app: FastifyInstance, request: FastifyRequest, event: string, f: Record<string, string | undefined>): void {
  app.ctx.auditFailures.write(addressLimitKey(request.ip), event, { event, address: request.ip, ...f });
}

/**
 * Sends an authorization error to the client's verified redirect URI. RFC 9700 §4.11.2: only a
 * trusted redirect URI (an operator-registered client's) is followed automatically before the
 * person has interacted with our pages; for self-registered and metadata-document clients the error
 * is shown here with a link back, so /authorize cannot serve as an open redirector. After a login
 * or consent form (`afterForm`) the person has seen who is asking, and the redirect is the expected
 * end of the flow.
 */
export function sendErrorToClient(
  app: FastifyInstance, reply: FastifyReply,
  to: { redirectUri: string; state: string | undefined; trustedRedirect?: boolean }, err: OAuthError, afterForm: boolean,
): FastifyReply {
  const url = errorRedirectUrl(app.ctx, to.redirectUri, to.state, err);
  if (afterForm || to.trustedRedirect === true) return redirectToClient(reply, url, afterForm);
  return sendMessage(reply, 400, {
    title: 'This application cannot sign you in',
    message: `The sign-in request could not be completed. You can return to the application at ${new URL(to.redirectUri).host}, which will be told why.`,
    detail: err.description,
    link: { href: url, text: 'Return to the application' },
  });
}

/**
 * After login (or with a live session): narrow the scopes by role, then either finish at once
 * (remembered consent, only for a client whose identity is assured) or show the consent screen.
 * A role that allows none of the scopes ends in access_denied at the client.
 */
export async function continueAuthorization(
  app: FastifyInstance, request: FastifyRequest, reply: FastifyReply,
  req: AuthorizationRequest, user: UserRecord, pendingId: string | undefined, afterForm: boolean,
): Promise<FastifyReply> {
  const { ctx } = app;
  let scopes: string[];
  try {
    scopes = grantableScopes(req, user.role);
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    if (pendingId) await app.pages.pending.delete(pendingId);
    auditFlow(app, request, 'authorize.error', { user: user.id, client: req.clientId, decision: 'deny', reason: err.description });
    return sendErrorToClient(app, reply, req, err, afterForm);
  }
  // "A remembered consent for the same client, user and scopes skips the screen" holds only when the
  // client's identity is assured (RFC 8252 §8.6, see identityAssured): public clients and loopback
  // redirects always see the screen, since anyone can present their client_id.
  if (req.identityAssured === true && await hasConsent(ctx, { userId: user.id, clientId: req.clientId, resource: req.resource }, scopes)) {
    if (pendingId) await app.pages.pending.delete(pendingId);
    auditFlow(app, request, 'consent.remembered', { user: user.id, client: req.clientId, decision: 'allow', scope: formatScope(scopes), resource: req.resource });
    return redirectToClient(reply, await codeRedirectUrl(ctx, req, user.id, scopes), afterForm);
  }
  const id = pendingId ?? (await app.pages.pending.add(req, request.ip, bindBrowser(app, request, reply)));
  return reply.header('cache-control', 'no-store').redirect(`consent?request=${encodeURIComponent(id)}`, 303);
}

function consentPage(app: FastifyInstance, reply: FastifyReply, id: string, req: AuthorizationRequest, user: UserRecord, scopes: string[]): FastifyReply {
  const redirect = new URL(req.redirectUri);
  const origin = cspOrigin(req.redirectUri);
  return sendPage(reply, 'consent', {
    title: `Allow ${req.clientName}?`,
    clientName: req.clientName,
    // MCP client-registration: the consent screen MUST clearly display the redirect URI hostname.
    redirectHost: redirect.host,
    clientHost: req.clientHost,
    loopback: isLoopbackRedirect(req.redirectUri),
    resource: req.resource,
    email: user.email,
    scopes: scopes.map((name) => ({ name, description: SCOPE_DESCRIPTIONS[name] ?? name })),
    csrf: reply.generateCsrf(),
    requestId: id,
  }, { formOrigins: origin ? [origin] : [] });
}

/** GET /consent shows what the client asks for; POST /consent records Allow or Deny. */
export const consentRoutes: FastifyPluginAsync = async (app) => {
  app.setErrorHandler(pageErrorHandler);
  const { ctx } = app;

  app.get('/consent', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const id = typeof query.request === 'string' ? query.request : undefined;
    const req = await pendingRequest(app, request, id);
    const user = await sessionUser(ctx, sessionId(app, request));
    if (!user) return reply.header('cache-control', 'no-store').redirect(`login?request=${encodeURIComponent(id!)}`, 303);
    let scopes: string[];
    try {
      scopes = grantableScopes(req, user.role);
    } catch {
      return continueAuthorization(app, request, reply, req, user, id, false);
    }
    return consentPage(app, reply, id!, req, user, scopes);
  });

  app.post('/consent', { preHandler: app.csrfProtection }, async (request, reply) => {
    const params = formParams(request);
    const req = await pendingRequest(app, request, params.request);
    const user = await sessionUser(ctx, sessionId(app, request));
    // The session ended between showing the page and the click. The request is still pending, so
    // the person can sign in again and continue instead of starting over at the application.
    if (!user) {
      return sendMessage(reply, 403, {
        title: 'You were signed out',
        message: 'Your session ended before you chose Allow or Deny, so nothing was shared. Sign in again to continue.',
        link: { href: `login?request=${encodeURIComponent(params.request!)}`, text: 'Sign in again' },
      });
    }
    const decision = params.decision as Decision | undefined;
    if (decision !== 'allow' && decision !== 'deny') throw new PageError(400, 'Invalid request', 'Choose Allow or Deny.');
    await app.pages.pending.delete(params.request!);
    const base = { user: user.id, client: req.clientId, resource: req.resource };
    if (decision === 'deny') {
      auditFlow(app, request, 'consent.denied', { ...base, decision: 'deny' });
      const url = errorRedirectUrl(ctx, req.redirectUri, req.state, accessDenied('the user denied the request'));
      return redirectToClient(reply, url, true);
    }
    // Scopes are recomputed from the server-side request and the user's current role, never from the form.
    let scopes: string[];
    try {
      scopes = grantableScopes(req, user.role);
    } catch {
      return continueAuthorization(app, request, reply, req, user, undefined, true);
    }
    await rememberConsent(ctx, { userId: user.id, clientId: req.clientId, resource: req.resource }, scopes);
    auditFlow(app, request, 'consent.granted', { ...base, decision: 'allow', scope: formatScope(scopes) });
    return redirectToClient(reply, await codeRedirectUrl(ctx, req, user.id, scopes), true);
  });
};
