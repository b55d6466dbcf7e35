import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import * as oidc from 'openid-client';
import { providerBySlug, refuseSignIn } from '../services/federation-pages.ts';
import { federationRedirectUri, ProviderUnavailableError } from '../services/federation-providers.ts';
import { setFederationState } from '../services/federation-state.ts';
import { signInTarget } from '../services/sign-in.ts';
import { pageErrorHandler } from '../views/pages.ts';

/**
 * GET /federation/<slug>/start?request=<pending id> (or ?next=<account page> for a standalone
 * sign-in): the "Continue with <provider>" link of the login page. Sends the browser to the provider with an authorization code request (PKCE S256,
 * `state`, and for OpenID Connect a `nonce`), whose checks it keeps in a sealed cookie. A link,
 * not a form: it changes nothing but where this browser goes, and the pending request it names
 * must have been started in this browser (RFC 9700 §4.7).
 */
export const federationStartRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);

  app.get<{ Params: { slug: string }; Querystring: Record<string, unknown> }>('/federation/:slug/start', async (request, reply) => {
    const provider = providerBySlug(app, request.params.slug);
    const to = await signInTarget(app, request, request.query);
    let config: oidc.Configuration;
    try {
      config = await app.ctx.federation.config(provider);
    } catch (err) {
      if (!(err instanceof ProviderUnavailableError)) throw err;
      request.log.warn({ provider: provider.slug, reason: err.reason }, 'identity provider unavailable');
      reply.header('retry-after', '30');
      return refuseSignIn(app, request, reply, provider, to, {
        status: 503, reason: `provider unavailable: ${err.reason}`,
        title: `${provider.name} is not answering`,
        message: `Sign-in with ${provider.name} is not possible right now. Try again in a few minutes, or sign in another way.`,
      });
    }
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    setFederationState(app, reply, {
      provider: provider.slug, pendingId: 'request' in to ? to.id : undefined, next: 'next' in to ? to.next : undefined, state, nonce, verifier,
    });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: federationRedirectUri(app.ctx.config.issuer, provider.slug),
      scope: provider.scopes.join(' '),
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      // OpenID Connect Core §3.1.2.1: the nonce ties the ID token to this browser's request.
      ...(provider.kind === 'oidc' ? { nonce } : {}),
    });
    return reply.header('cache-control', 'no-store').redirect(url.href, 303);
  });
};
