import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type * as oidc from 'openid-client';
import { safeEqual } from '@stack/crypto';
import { auditFlow, pendingRequest } from '../services/authorization-flow.ts';
import { federatedAccount } from '../services/federation-accounts.ts';
import { exchangeCode, UpstreamRefusal } from '../services/federation-exchange.ts';
import { providerBySlug, refuseSignIn } from '../services/federation-pages.ts';
import { federationRedirectUri, ProviderUnavailableError } from '../services/federation-providers.ts';
import { mapRole } from '../services/federation-roles.ts';
import { takeFederationState } from '../services/federation-state.ts';
import { completeSignIn, type AfterSignIn } from '../services/sign-in.ts';
import { nextPath, pageErrorHandler } from '../views/pages.ts';

const AGAIN = 'Go back to the application and start again.';

/**
 * GET /federation/<slug>/callback: where the provider sends the person back (the redirect URI
 * registered there). The state cookie must be this browser's, for this provider and unexpired;
 * then openid-client checks the answer and the ID token (federation-exchange.ts), the role rules
 * pick the role, the local account is found, linked or made (federation-accounts.ts) and the sign-in
 * ends where every sign-in ends (completeSignIn). Each refusal is a page and an audit line.
 */
export const federationCallbackRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.setErrorHandler(pageErrorHandler);

  app.get<{ Params: { slug: string }; Querystring: Record<string, unknown> }>('/federation/:slug/callback', async (request, reply) => {
    const provider = providerBySlug(app, request.params.slug);
    const st = takeFederationState(app, request, reply, provider.slug);
    if (!st) {
      return refuseSignIn(app, request, reply, provider, undefined, {
        status: 400, reason: 'no sign-in in progress in this browser (state cookie missing, expired or already used)',
        title: 'This sign-in could not be completed', message: `The sign-in with ${provider.name} was not started in this browser, took too long, or was already completed. ${AGAIN}`,
      });
    }
    const to: AfterSignIn = st.pendingId !== undefined ? await pendingRequest(app, request, st.pendingId) : { next: nextPath(st.next) };
    const refuse = (r: Parameters<typeof refuseSignIn>[5]) => refuseSignIn(app, request, reply, provider, to, r);
    // RFC 6749 §10.12: the state must be the one this browser sent (checked again by openid-client).
    const state = request.query.state;
    if (typeof state !== 'string' || !safeEqual(state, st.state)) {
      return refuse({ status: 400, reason: 'state mismatch', title: 'This sign-in could not be completed', message: `The answer from ${provider.name} does not belong to the sign-in started in this browser. ${AGAIN}` });
    }
    let config: oidc.Configuration;
    try {
      config = await app.ctx.federation.config(provider);
    } catch (err) {
      if (!(err instanceof ProviderUnavailableError)) throw err;
      return refuse({ status: 503, reason: `provider unavailable: ${err.reason}`, title: `${provider.name} is not answering`, message: `Sign-in with ${provider.name} is not possible right now. Try again in a few minutes, or sign in another way.` });
    }
    const redirectUri = federationRedirectUri(app.ctx.config.issuer, provider.slug);
    // The URL the provider sent the browser to, as registered (behind a proxy the request's own host may differ).
    const callbackUrl = new URL(redirectUri);
    callbackUrl.search = new URL(request.url, 'http://callback.invalid').search;
    let upstream;
    try {
      upstream = await exchangeCode(config, provider, callbackUrl, redirectUri, st);
    } catch (err) {
      if (!(err instanceof UpstreamRefusal)) throw err;
      request.log.info({ provider: provider.slug, reason: err.reason }, 'federated sign-in refused');
      return refuse({ status: 400, reason: err.reason, title: `Sign-in with ${provider.name} failed`, message: `The answer from ${provider.name} could not be accepted, so you are not signed in. ${AGAIN}` });
    }
    const rule = mapRole(provider.roleRules, upstream.claims);
    if (!rule) {
      return refuse({ status: 403, reason: 'no role rule matched', title: 'You do not have access', message: `Your ${provider.name} account is not allowed to use this service. Ask your administrator to give you access.` });
    }
    const email = typeof upstream.claims.email === 'string' ? upstream.claims.email : undefined;
    const account = await federatedAccount(app.ctx, provider, { subject: upstream.subject, email, emailVerified: upstream.claims.email_verified === true }, rule.role);
    if (!account.ok) return refuse({ status: 403, reason: account.reason, user: account.user, title: account.title, message: account.message });
    const { user } = account;
    if (account.how !== 'linked') auditFlow(app, request, account.how === 'created' ? 'federation.user_created' : 'federation.user_linked', { provider: provider.slug, user: user.id, role: user.role, decision: 'allow' });
    if (account.previousRole !== undefined) {
      auditFlow(app, request, 'federation.role_changed', {
        provider: provider.slug, user: user.id, role: user.role, previous: account.previousRole, decision: 'allow',
        revoked: account.revoked ? `${account.revoked.sessions} sessions, ${account.revoked.refreshTokens} refresh tokens, ${account.revoked.accessTokens} access tokens` : undefined,
      });
    }
    return completeSignIn(app, request, reply, user, { method: `federation:${provider.slug}`, amr: upstream.amr }, to);
  });
};
