import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '@stack/oauth';
import {
  stateOf, trustsRedirectUris, validateAuthorizationRequest, verifyClientAndRedirect,
  type RawParams, type VerifiedClient,
} from '../services/authorization-request.ts';
import { sessionUser } from '../services/sessions.ts';
import { bindBrowser, pageErrorHandler, sessionId } from '../plugins/pages.ts';
import { PageError } from '../views/render.ts';
import { auditUnauthenticated, continueAuthorization, sendErrorToClient } from './consent.ts';

/** GET /authorize (OAuth 2.1 §4.1.1): validate, then log in, consent, and redirect with code, state and iss. */
export const authorizeRoutes: FastifyPluginAsync = async (app) => {
  app.setErrorHandler(pageErrorHandler);
  const { ctx } = app;

  // Errors about the client or redirect URI are shown here, never redirected (RFC 9700 §4.11).
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

  function redirectError(request: FastifyRequest, reply: FastifyReply, raw: RawParams, v: VerifiedClient, err: OAuthError): FastifyReply {
    auditUnauthenticated(app, request, 'authorize.error', { client: v.client.id, decision: 'deny', reason: err.description });
    const to = { redirectUri: v.redirectUri, state: stateOf(raw), trustedRedirect: trustsRedirectUris(v.client) };
    return sendErrorToClient(app, reply, to, err, false);
  }

  app.get('/authorize', async (request, reply) => {
    const raw = (request.query ?? {}) as RawParams;
    const verified = await verifyClient(request, raw);
    let req;
    try {
      req = validateAuthorizationRequest(ctx, raw, verified);
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      return redirectError(request, reply, raw, verified, err);
    }
    const user = await sessionUser(ctx, sessionId(app, request));
    if (!user) {
      const id = await app.pages.pending.add(req, request.ip, bindBrowser(app, request, reply));
      return reply.header('cache-control', 'no-store').redirect(`login?request=${encodeURIComponent(id)}`, 303);
    }
    return continueAuthorization(app, request, reply, req, user, undefined, false);
  });
};
