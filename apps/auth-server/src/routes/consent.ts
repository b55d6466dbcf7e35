import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError, SCOPE_DESCRIPTIONS, accessDenied, formatScope, isLoopbackRedirect } from '@stack/oauth';
import {
  codeRedirectUrl, errorRedirectUrl, grantableScopes, type AuthorizationRequest,
} from '../services/authorization-request.ts';
import { hasConsent, rememberConsent } from '../services/consents.ts';
import { sessionUser } from '../services/sessions.ts';
import type { UserRecord } from '../services/users.ts';
import { formParams } from '../plugins/form-body.ts';
import { pageErrorHandler, redirectToClient, sessionId } from '../plugins/pages.ts';
import { PageError, cspOrigin, sendMessage, sendPage } from '../views/render.ts';

type Decision = 'allow' | 'deny';

/** The pending request named by a form or link, or a page saying it expired. */
export async function pendingRequest(app: FastifyInstance, id: string | undefined): Promise<AuthorizationRequest> {
  const req = await app.pages.pending.get(id);
  if (!req) {
    throw new PageError(400, 'This sign-in request has expired',
      'It took too long, or the request was already used. Go back to the application and start again.');
  }
  return req;
}

/** Audit line for the browser flow; never secrets (the audit sink redacts secret-looking keys anyway). */
export function auditFlow(app: FastifyInstance, request: FastifyRequest, event: string, f: Record<string, string | undefined>): void {
  app.ctx.audit.write({ event, address: request.ip, ...f });
}

/**
 * After login (or with a live session): narrow the scopes by role, then either finish at once
 * (remembered consent) or show the consent screen. A role that allows none of the scopes ends in
 * access_denied at the client.
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
    return redirectToClient(reply, errorRedirectUrl(ctx, req.redirectUri, req.state, err), afterForm);
  }
  if (await hasConsent(ctx, { userId: user.id, clientId: req.clientId, resource: req.resource }, scopes)) {
    if (pendingId) await app.pages.pending.delete(pendingId);
    auditFlow(app, request, 'consent.remembered', { user: user.id, client: req.clientId, decision: 'allow', scope: formatScope(scopes), resource: req.resource });
    return redirectToClient(reply, await codeRedirectUrl(ctx, req, user.id, scopes), afterForm);
  }
  const id = pendingId ?? (await app.pages.pending.add(req));
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
    const req = await pendingRequest(app, id);
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
    const req = await pendingRequest(app, params.request);
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
