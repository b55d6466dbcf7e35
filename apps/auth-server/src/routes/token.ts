import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { invalidRequest, unauthorizedClient, unsupportedGrantType, type VerifiedDpopProof } from '@stack/oauth';
import { parseForm } from '../http/parse-form.ts';
import { identifyTokenClient } from '../http/authenticate-client.ts';
import { grants } from '../grants/index.ts';
import { pickParams, type Grant } from '../grants/grant.ts';
import type { TokenResponse } from '../services/token-response.ts';
import { tokenRequestProof } from '../services/dpop.ts';
import { inSpan } from '@stack/telemetry';

declare module 'fastify' {
  interface FastifyRequest {
    /** The grant named by grant_type (set by the checkGrantType step). */
    grant: Grant | null;
    /** The checked DPoP proof (set by the checkDpopProof step); null for a bearer token request. */
    dpopProof: VerifiedDpopProof | null;
  }
}

/** Step: a known grant_type, checked before client authentication so junk requests cost no secret verification. */
async function checkGrantType(request: FastifyRequest): Promise<void> {
  const grantType = request.form!.grant_type;
  if (!grantType) throw invalidRequest("missing required parameter 'grant_type'");
  const grant = grants.get(grantType);
  if (!grant || (grant.enabled && !grant.enabled(request.server.ctx))) throw unsupportedGrantType(`grant_type '${grantType.slice(0, 50)}' is not supported`);
  request.grant = grant;
}

/**
 * Step: the authenticated client registered this grant type (OAuth 2.1 §3.2.2 unauthorized_client),
 * and is not waiting for an admin's approval (REGISTRATION_MODE=approval). A waiting client did
 * authenticate, so not invalid_client: RFC 6749 §5.2 unauthorized_client, "the authenticated client
 * is not authorized to use this authorization grant type", holds for every grant until it is approved.
 */
async function checkClientGrant(request: FastifyRequest): Promise<void> {
  const { grantType, clientsFromStack } = request.grant!;
  if (request.oauthClient!.client.pendingApproval) throw unauthorizedClient('this client is waiting for an administrator\'s approval');
  if (clientsFromStack) return;
  if (!request.oauthClient!.client.grantTypes.includes(grantType)) throw unauthorizedClient(`this client may not use grant_type '${grantType}'`);
}

/**
 * Step: the DPoP proof, when the request has a `DPoP` header (RFC 9449 §5), for POST at the token
 * endpoint as the metadata publishes it. After client authentication, so unauthenticated requests
 * spend no signature verification nor replay-cache entry. No header: a bearer request, as before.
 */
async function checkDpopProof(request: FastifyRequest): Promise<void> {
  const { ctx } = request.server;
  const proof = tokenRequestProof(ctx.dpop, request.headers.dpop, `${ctx.config.issuer}/token`, ctx.now);
  request.dpopProof = proof === undefined ? null : await proof;
}

/** Last step: the grant's handler, given only the parameters it declares. */
async function grant(request: FastifyRequest, reply: FastifyReply): Promise<TokenResponse> {
  const g = request.grant!;
  const { ctx } = request.server;
  const client = request.oauthClient!.client;
  const run = () => g.handler({
    ctx, client, params: pickParams(request.form!, g.parameters), address: request.ip, dpop: request.dpopProof ?? undefined,
  });
  // The grant type is one of the registered grants' (checkGrantType), so the attribute stays bounded.
  const response = await (ctx.tracer ? inSpan(ctx.tracer, 'auth.grant', { 'oauth.grant_type': g.grantType }, run) : run());
  ctx.metrics.tokenIssued(g.grantType, client, response.token_type);
  ctx.clientUse.record(client.id);
  // RFC 9449 §8: a fresh nonce with every success, so the client's next proof needs no extra round.
  if (ctx.dpop.nonces) reply.header('dpop-nonce', ctx.dpop.nonces.current());
  return response;
}

/**
 * The token endpoint (OAuth 2.1 §3.2): authorization_code, refresh_token, client_credentials and
 * jwt-bearer (RFC 7523 §2.1: ID-JAGs, workload tokens) grants.
 * parseForm → checkGrantType → identifyTokenClient → checkClientGrant → checkDpopProof → grant.
 * Responses are never cached (OAuth 2.1 §3.2.3) and readable by browser-based clients.
 */
export const tokenRoutes: FastifyPluginAsync = async (app) => {
  app.decorateRequest('grant', null);
  app.decorateRequest('dpopProof', null);
  app.route({
    method: 'POST',
    url: '/token',
    config: { noStore: true, cors: 'with-preflight' },
    preHandler: [parseForm, checkGrantType, identifyTokenClient, checkClientGrant, checkDpopProof],
    handler: grant,
  });
};
