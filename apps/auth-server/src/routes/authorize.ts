import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '@stack/oauth';
import {
  stateOf, trustsRedirectUris, validateAuthorizationRequest, verifyClientAndRedirect,
  type AuthorizationRequest, type RawParams, type VerifiedClient,
} from '../services/authorization-request.ts';
import {
  auditUnauthenticated, continueAuthorization, holdPendingRequest, sendErrorToClient, signedInUser,
} from '../services/authorization-flow.ts';
import type { ClientRecord } from '../services/clients.ts';
import { pageErrorHandler, redirectToPage } from '../views/pages.ts';
import { PageError } from '../views/render.ts';

/** GET /authorize (OAuth 2.1 §4.1.1): validate, then log in, consent, and redirect with code, state and iss. */
export const authorizeRoutes: FastifyPluginAsync = async (app) => {
  app.setErrorHandler(pageErrorHandler);
  const { ctx } = app;

  // Step 1. Errors about the client or redirect URI are shown here, never redirected (RFC 9700 §4.11).
  async function verifyClient(request: FastifyRequest, raw: RawParams): Promise<VerifiedClient> {
    try {
      return await verifyClientAndRedirect(ctx, raw, request.ip);
    } catch (err) {
      // A 5xx (the database or a metadata fetch is unavailable) is ours, not the client's, and a 429
      // (this address triggered too many metadata fetches) is the requester's: both rethrown.
      if (!(err instanceof OAuthError) || !err.expose || err.status >= 500 || err.code === 'rate_limited') throw err;
      auditUnauthenticated(app, request, 'authorize.error', {
        client: typeof raw.client_id === 'string' ? raw.client_id : undefined, decision: 'deny', reason: err.description,
      });
      throw new PageError(400, 'This application cannot sign you in',
        'The application sent an invalid sign-in request, so you were not sent back to it. Contact its developer.', err.description);
    }
  }

  // REGISTRATION_MODE=approval: a client that registered itself is not trusted until an admin approves
  // it, so nothing is sent to its redirect URI; the person is told whom to ask instead.
  function refusePending(request: FastifyRequest, client: ClientRecord): void {
    if (!client.pendingApproval) return;
    auditUnauthenticated(app, request, 'authorize.error', { client: client.id, decision: 'deny', reason: 'the client is waiting for approval' });
    const host = client.source === 'cimd' ? ` (published by ${new URL(client.id).host})` : '';
    throw new PageError(403, 'This application is waiting for approval',
      `"${client.clientName}"${host} is new here: an administrator of this server must approve it before anyone can sign in with it. `
      + `Ask your administrator to approve it (client ID ${client.id}), then start the sign-in again from the application.`);
  }

  // Step 2. The rest of the request; its errors go to the verified redirect URI (redirectError).
  function validateRequest(raw: RawParams, verified: VerifiedClient): AuthorizationRequest | OAuthError {
    try {
      return validateAuthorizationRequest(ctx, raw, verified);
    } catch (err) {
      if (err instanceof OAuthError) return err;
      throw err;
    }
  }

  function redirectError(request: FastifyRequest, reply: FastifyReply, raw: RawParams, v: VerifiedClient, err: OAuthError): FastifyReply {
    auditUnauthenticated(app, request, 'authorize.error', { client: v.client.id, decision: 'deny', reason: err.description });
    const to = { redirectUri: v.redirectUri, state: stateOf(raw), trustedRedirect: trustsRedirectUris(v.client) };
    return sendErrorToClient(app, reply, to, err, false);
  }

  app.get('/authorize', async (request, reply) => {
    const raw = (request.query ?? {}) as RawParams;
    const verified = await verifyClient(request, raw);
    refusePending(request, verified.client);
    const req = validateRequest(raw, verified);
    if (req instanceof OAuthError) return redirectError(request, reply, raw, verified, req);
    const user = await signedInUser(app, request);
    if (!user) return redirectToPage(reply, 'login', await holdPendingRequest(app, request, reply, req));
    return continueAuthorization(app, request, reply, req, user, { afterForm: false });
  });
};
