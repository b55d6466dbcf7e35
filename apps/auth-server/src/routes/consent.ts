import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { accessDenied, formatScope, isLoopbackRedirect } from '@stack/oauth';
import type { StackConfig } from '@stack/stack-config';
import type { AuthorizationRequest } from '../services/authorization-request.ts';
import {
  allowedScopes, auditFlow, continueAuthorization, pendingRequest, sendCodeToClient, sendErrorToClient, signedInUser,
} from '../services/authorization-flow.ts';
import { rememberConsent } from '../services/consents.ts';
import type { UserRecord } from '../services/users.ts';
import { formParams } from '../plugins/form-body.ts';
import { pageErrorHandler, pageLink, redirectToPage } from '../views/pages.ts';
import { PageError, cspOrigin, sendMessage, sendPage } from '../views/render.ts';

type Decision = 'allow' | 'deny';

function consentPage(reply: FastifyReply, id: string, req: AuthorizationRequest, user: UserRecord, scopes: string[], stack: StackConfig): FastifyReply {
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
    signedIn: user.email,
    scopes: scopes.map((name) => ({ name, description: Object.hasOwn(stack.scopes, name) ? stack.scopes[name]!.description : name })),
    csrf: reply.generateCsrf(),
    requestId: id,
  }, { formOrigins: origin ? [origin] : [] });
}

/**
 * The session ended between showing the page and the click. The request is still pending, so
 * the person can sign in again and continue instead of starting over at the application.
 */
function signedOutPage(reply: FastifyReply, id: string): FastifyReply {
  return sendMessage(reply, 403, {
    title: 'You were signed out',
    message: 'Your session ended before you chose Allow or Deny, so nothing was shared. Sign in again to continue.',
    link: { href: pageLink('login', id), text: 'Sign in again' },
  });
}

function chosenDecision(params: Record<string, string>): Decision {
  const decision = params.decision;
  if (decision !== 'allow' && decision !== 'deny') throw new PageError(400, 'Invalid request', 'Choose Allow or Deny.');
  return decision;
}

/** GET /consent shows what the client asks for; POST /consent records Allow or Deny. */
export const consentRoutes: FastifyPluginAsync = async (app) => {
  app.setErrorHandler(pageErrorHandler);
  const { ctx } = app;

  app.get('/consent', async (request, reply) => {
    const { id, request: req } = await pendingRequest(app, request, (request.query as Record<string, unknown>).request);
    const user = await signedInUser(app, request);
    if (!user) return redirectToPage(reply, 'login', id);
    const stack = ctx.stack.current();
    const scopes = allowedScopes(stack, req, user);
    if (!scopes) return continueAuthorization(app, request, reply, req, user, { pendingId: id, afterForm: false });
    return consentPage(reply, id, req, user, scopes, stack);
  });

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/consent', { preHandler: app.csrfProtection }, async (request, reply) => {
    const params = formParams(request);
    const { id, request: req } = await pendingRequest(app, request, params.request);
    const user = await signedInUser(app, request);
    if (!user) return signedOutPage(reply, id);
    const decision = chosenDecision(params);
    await app.pages.pending.delete(id);
    const base = { user: user.id, client: req.clientId, resource: req.resource };
    if (decision === 'deny') {
      auditFlow(app, request, 'consent.denied', { ...base, decision: 'deny' });
      return sendErrorToClient(app, reply, req, accessDenied('the user denied the request'), true);
    }
    // Scopes are recomputed from the server-side request and the user's current role, never from the form.
    const scopes = allowedScopes(ctx.stack.current(), req, user);
    if (!scopes) return continueAuthorization(app, request, reply, req, user, { afterForm: true });
    await rememberConsent(ctx, { userId: user.id, clientId: req.clientId, resource: req.resource }, scopes);
    auditFlow(app, request, 'consent.granted', { ...base, decision: 'allow', scope: formatScope(scopes) });
    return sendCodeToClient(app, reply, req, user.id, scopes, true);
  });
};
