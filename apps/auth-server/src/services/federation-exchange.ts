import * as oidc from 'openid-client';
import type { IdentityProvider } from '@stack/stack-config';
import { describe, githubEndpoints } from './federation-providers.ts';
import type { FederationState } from './federation-state.ts';

/**
 * The provider's answer at our callback, checked by openid-client: the `iss` parameter when the
 * provider advertises it (RFC 9207 §2.4), `state`, the code exchanged with the PKCE verifier
 * (RFC 7636), and the ID token validated as OpenID Connect Core 1.0 §3.1.3.7 says (issuer,
 * audience, azp, signature with the provider's keys, exp, iat, nonce). Then the person's claims:
 * the ID token's, completed by the UserInfo endpoint (which must name the same subject, §5.3.4);
 * for GitHub, its user API.
 */

export interface UpstreamClaims {
  subject: string;
  /** The ID token's claims (they win) over UserInfo's; for GitHub: sub, login, name, email, email_verified. */
  claims: Record<string, unknown>;
  /** The ID token's amr (RFC 8176), for the second-factor step. */
  amr: string[] | undefined;
}

/** A refused answer: `reason` for the audit line (never a token or a code). */
export class UpstreamRefusal extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.name = 'UpstreamRefusal';
    this.reason = reason;
  }
}

export async function exchangeCode(config: oidc.Configuration, provider: IdentityProvider, callbackUrl: URL, redirectUri: string, st: FederationState): Promise<UpstreamClaims> {
  const oidcProvider = provider.kind === 'oidc';
  let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
  try {
    tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: st.verifier,
      expectedState: st.state,
      ...(oidcProvider ? { expectedNonce: st.nonce, idTokenExpected: true } : {}),
    }, { redirect_uri: redirectUri });
  } catch (err) {
    throw new UpstreamRefusal(refusalReason(err));
  }
  if (!oidcProvider) return githubClaims(config, provider, tokens.access_token);
  const idClaims = tokens.claims()!;
  let userinfo: Record<string, unknown> = {};
  if (config.serverMetadata().userinfo_endpoint) {
    try {
      userinfo = await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub);
    } catch (err) {
      throw new UpstreamRefusal(`userinfo: ${describe(err)}`);
    }
  }
  const claims: Record<string, unknown> = { ...userinfo, ...idClaims };
  const amr = Array.isArray(idClaims.amr) ? idClaims.amr.filter((m): m is string => typeof m === 'string') : undefined;
  return { subject: idClaims.sub, claims, amr };
}

/** Why openid-client refused the answer, in words for the audit line. */
function refusalReason(err: unknown): string {
  if (err instanceof oidc.AuthorizationResponseError) return `provider error: ${err.error}`;
  if (err instanceof oidc.ResponseBodyError) return `token endpoint refused: ${err.error}`;
  // openid-client wraps the failed check (oauth4webapi's error, with its own message) as the cause.
  const cause = (err as { cause?: unknown }).cause;
  const m = describe(cause instanceof Error ? cause : err);
  // Which check failed: 'unexpected ID Token "nonce" claim value', 'unexpected JWT "iss" (issuer) claim value', 'unexpected "iss" (issuer) response parameter value'.
  const which = /unexpected (JWT |ID Token )?"([a-z_]+)"/.exec(m);
  if (which) return `${which[1] ? 'ID token' : 'response'} ${which[2]} mismatch (${m})`;
  return m;
}

interface GithubUser { id?: unknown; login?: unknown; name?: unknown; email?: unknown }
interface GithubEmail { email?: unknown; primary?: unknown; verified?: unknown }

async function githubJson<T>(config: oidc.Configuration, token: string, url: string): Promise<T> {
  const res = await oidc.fetchProtectedResource(config, token, new URL(url), 'GET', undefined, new Headers({ accept: 'application/vnd.github+json' }));
  if (!res.ok) throw new UpstreamRefusal(`github api ${new URL(url).pathname}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** GitHub is not an OpenID provider: the user API names the person; the email is the primary one only when GitHub verified it. */
async function githubClaims(config: oidc.Configuration, provider: IdentityProvider, token: string): Promise<UpstreamClaims> {
  const api = githubEndpoints(provider.issuer).api;
  const user = await githubJson<GithubUser>(config, token, `${api}/user`);
  if (typeof user.id !== 'number' && typeof user.id !== 'string') throw new UpstreamRefusal('github api /user: no id');
  const emails = await githubJson<GithubEmail[]>(config, token, `${api}/user/emails`).catch(() => [] as GithubEmail[]);
  const primary = Array.isArray(emails) ? emails.find((e) => e.primary === true && typeof e.email === 'string') : undefined;
  const email = typeof primary?.email === 'string' ? primary.email : typeof user.email === 'string' ? user.email : undefined;
  const claims = {
    sub: String(user.id),
    login: user.login,
    name: user.name,
    email,
    email_verified: primary !== undefined && primary.verified === true,
  };
  return { subject: claims.sub, claims, amr: undefined };
}
