import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError, authorizationResponseUrl, formatScope } from '@stack/oauth';
import { addressLimitKey } from '@stack/redis';
import type { StackConfig } from '@stack/stack-config';
import type { AppContext } from '../context.ts';
import { redirectToClient, redirectToPage } from '../views/pages.ts';
import { PageError, sendMessage } from '../views/render.ts';
import { grantableScopes, type AuthorizationRequest } from './authorization-request.ts';
import { createCodeForRequest } from './codes.ts';
import { hasConsent } from './consents.ts';
import { bindBrowser, browserBinding, sessionId } from './page-cookies.ts';
import { sessionUser } from './sessions.ts';
import type { UserRecord } from './users.ts';

// The steps of the browser flow (/authorize, then /login and /consent) that more than one page
// takes. Each step gets only what it needs: the app (its context and the pages' state), the
// request (address and cookies) and, to end the flow, the reply.

/** A pending request continued by this browser, and the id that names it in links and forms. */
export interface Pending {
  id: string;
  request: AuthorizationRequest;
}

/** Where the flow is: the pending request to end with it (if any), and whether a form of ours was just submitted. */
export interface FlowPosition {
  pendingId?: string | undefined;
  afterForm: boolean;
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

/** The enabled user signed in in this browser, if any. */
export function signedInUser(app: FastifyInstance, request: FastifyRequest): Promise<UserRecord | undefined> {
  return sessionUser(app.ctx, sessionId(app, request));
}

/** Keeps a validated request server-side while the person signs in or decides, bound to this browser; returns its id. */
export function holdPendingRequest(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, req: AuthorizationRequest): Promise<string> {
  return app.pages.pending.add(req, request.ip, bindBrowser(app, request, reply));
}

/**
 * The pending request named by a form or link (`id`, as sent), or a page saying it expired;
 * refused (400) unless this browser started it (RFC 9700 §4.7: a request sent to someone else must
 * not complete).
 */
export async function pendingRequest(app: FastifyInstance, request: FastifyRequest, id: unknown): Promise<Pending> {
  const found = typeof id === 'string' ? await app.pages.pending.get(id, browserBinding(app, request)) : undefined;
  if (typeof id !== 'string' || !found) {
    throw new PageError(400, 'This sign-in request has expired',
      'It took too long, or the request was already used. Go back to the application and start again.');
  }
  if (!found.sameBrowser) {
    auditFlow(app, request, 'authorize.browser_mismatch', { client: found.request.clientId, decision: 'deny', reason: 'sign-in started in another browser' });
    throw new PageError(400, 'This sign-in was started in another browser', 'This sign-in was started in another browser. Start again from the application.');
  }
  return { id, request: found.request };
}

/**
 * The scopes `user` may grant for `req`, or undefined when their role allows none of them
 * (continueAuthorization then ends the flow with access_denied at the client).
 */
export function allowedScopes(stack: StackConfig, req: AuthorizationRequest, user: UserRecord): string[] | undefined {
  try {
    return grantableScopes(stack, req, user.role);
  } catch (err) {
    if (err instanceof OAuthError) return undefined;
    throw err;
  }
}

/** The error redirect: `error`, `error_description`, `state` and `iss` (RFC 6749 §4.1.2.1, RFC 9207 §2). */
export function errorRedirectUrl(ctx: AppContext, redirectUri: string, state: string | undefined, err: OAuthError): string {
  const body = err.toJSON();
  return authorizationResponseUrl(redirectUri, { iss: ctx.config.issuer, ...body, state });
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
  to: { redirectUri: string; state: string | undefined; trustedRedirect?: boolean | undefined }, err: OAuthError, afterForm: boolean,
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

/** Issues the code for `scopes` and sends the browser back to the client with `code`, `state` and `iss` (RFC 9207 §2). */
export async function sendCodeToClient(
  app: FastifyInstance, reply: FastifyReply, req: AuthorizationRequest, userId: string, scopes: readonly string[], afterForm: boolean,
): Promise<FastifyReply> {
  const code = await createCodeForRequest(app.ctx, req, userId, scopes);
  const url = authorizationResponseUrl(req.redirectUri, { iss: app.ctx.config.issuer, code, state: req.state });
  return redirectToClient(reply, url, afterForm);
}

/**
 * After login (or with a live session): narrow the scopes by role, then either finish at once
 * (remembered consent, only for a client whose identity is assured) or show the consent screen.
 * A role that allows none of the scopes ends in access_denied at the client.
 */
export async function continueAuthorization(
  app: FastifyInstance, request: FastifyRequest, reply: FastifyReply,
  req: AuthorizationRequest, user: UserRecord, at: FlowPosition,
): Promise<FastifyReply> {
  let scopes: string[];
  try {
    scopes = grantableScopes(app.ctx.stack.current(), req, user.role);
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    if (at.pendingId) await app.pages.pending.delete(at.pendingId);
    auditFlow(app, request, 'authorize.error', { user: user.id, role: user.role, client: req.clientId, decision: 'deny', reason: err.description });
    return sendErrorToClient(app, reply, req, err, at.afterForm);
  }
  // "A remembered consent for the same client, user and scopes skips the screen" holds only when the
  // client's identity is assured (RFC 8252 §8.6, see identityAssured): public clients and loopback
  // redirects always see the screen, since anyone can present their client_id.
  if (req.identityAssured === true && await hasConsent(app.ctx, { userId: user.id, clientId: req.clientId, resource: req.resource }, scopes)) {
    if (at.pendingId) await app.pages.pending.delete(at.pendingId);
    auditFlow(app, request, 'consent.remembered', { user: user.id, client: req.clientId, decision: 'allow', scope: formatScope(scopes), resource: req.resource });
    return sendCodeToClient(app, reply, req, user.id, scopes, at.afterForm);
  }
  const id = at.pendingId ?? (await holdPendingRequest(app, request, reply, req));
  return redirectToPage(reply, 'consent', id);
}
