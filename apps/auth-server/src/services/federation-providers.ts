import * as oidc from 'openid-client';
import { resolveRefsAsync, MissingRefError, type AsyncRefLookup, type IdentityProvider } from '@stack/stack-config';

/**
 * The upstream side of "Continue with <provider>": one openid-client Configuration per provider,
 * made on first use (OpenID Connect Discovery 1.0 from the issuer; GitHub's fixed OAuth 2.0
 * endpoints) and kept, so a provider that is down at start does not stop the server and one that
 * is down later does not slow every page. A failed discovery is remembered for 30 seconds, then tried again.
 */

/** How long discovery may take; the sign-in page then says the provider is not answering. */
export const DISCOVERY_TIMEOUT_SECONDS = 5;
/** Token, user info and key requests to the provider. */
export const UPSTREAM_TIMEOUT_SECONDS = 10;
/** Discovered metadata is fetched again after this long (a provider may rotate endpoints or keys). */
const CACHE_MS = 3600_000;
/** A failed discovery is remembered this long: the next sign-in after it tries again. */
const FAILURE_CACHE_MS = 30_000;

/** The provider cannot be used now: its discovery failed or its client secret is not set. */
export class ProviderUnavailableError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.name = 'ProviderUnavailableError';
    this.reason = reason;
  }
}

export interface FederationClients {
  /** The provider's client configuration; throws ProviderUnavailableError. */
  config(provider: IdentityProvider): Promise<oidc.Configuration>;
}

/** Where the provider sends people back: our issuer followed by /federation/<slug>/callback (registered at the provider). */
export function federationRedirectUri(issuer: string, slug: string): string {
  return `${issuer.replace(/\/+$/, '')}/federation/${slug}/callback`;
}

/** GitHub's web and API addresses: github.com, or a GitHub Enterprise Server (its API under /api/v3). */
export function githubEndpoints(issuer: string): { authorize: string; token: string; api: string } {
  const web = issuer.replace(/\/+$/, '');
  const api = new URL(web).host === 'github.com' ? 'https://api.github.com' : `${web}/api/v3`;
  return { authorize: `${web}/login/oauth/authorize`, token: `${web}/login/oauth/access_token`, api };
}

function clientAuth(provider: IdentityProvider, secret: string | undefined, methods: readonly string[] | undefined): oidc.ClientAuth {
  if (secret === undefined) return oidc.None();
  // GitHub takes the secret in the body; an OpenID provider that lists no methods supports client_secret_basic (Discovery 1.0 §3).
  if (provider.kind === 'github') return oidc.ClientSecretPost(secret);
  return !methods || methods.includes('client_secret_basic') ? oidc.ClientSecretBasic(secret) : oidc.ClientSecretPost(secret);
}

// Plain http is only ever configured for a loopback issuer outside production (stack file cross-checks).
const insecure = (provider: IdentityProvider) => new URL(provider.issuer).protocol === 'http:';

async function discover(provider: IdentityProvider, secret: string | undefined): Promise<oidc.Configuration> {
  if (provider.kind === 'github') {
    const e = githubEndpoints(provider.issuer);
    const server = { issuer: provider.issuer, authorization_endpoint: e.authorize, token_endpoint: e.token };
    const config = new oidc.Configuration(server, provider.clientId, undefined, clientAuth(provider, secret, undefined));
    if (insecure(provider)) oidc.allowInsecureRequests(config);
    config.timeout = UPSTREAM_TIMEOUT_SECONDS;
    return config;
  }
  // Discovery first: the client authentication method depends on what the metadata lists.
  const found = await oidc.discovery(new URL(provider.issuer), provider.clientId, undefined, oidc.None(), {
    timeout: DISCOVERY_TIMEOUT_SECONDS,
    execute: insecure(provider) ? [oidc.allowInsecureRequests] : [],
  });
  const methods = found.serverMetadata().token_endpoint_auth_methods_supported;
  const made = new oidc.Configuration(found.serverMetadata(), provider.clientId, undefined, clientAuth(provider, secret, methods));
  if (insecure(provider)) oidc.allowInsecureRequests(made);
  // OpenID Connect Core §3.1.3.7 step 6 lets a client trust TLS instead of the ID token's signature;
  // we check the signature too, against the provider's published keys (jwks_uri, cached by openid-client).
  oidc.enableNonRepudiationChecks(made);
  made.timeout = UPSTREAM_TIMEOUT_SECONDS;
  return made;
}

interface CacheEntry {
  at: number;
  config: Promise<oidc.Configuration>;
  /** Why discovery failed, while the failure is remembered. */
  failed?: string;
}

export function createFederationClients(refs: AsyncRefLookup, now: () => number): FederationClients {
  const cache = new Map<string, CacheEntry>();
  return {
    async config(provider) {
      let secret: string | undefined;
      try {
        secret = provider.clientSecret === undefined ? undefined : await resolveRefsAsync(provider.clientSecret, refs);
      } catch (err) {
        if (err instanceof MissingRefError) throw new ProviderUnavailableError(`client_secret not set: ${err.missing.join(', ')}`);
        throw err;
      }
      // A reloaded stack file with another issuer, client or secret gets a configuration of its own.
      const key = JSON.stringify([provider.slug, provider.kind, provider.issuer, provider.clientId, secret ?? null]);
      const hit = cache.get(key);
      if (hit && now() - hit.at < (hit.failed ? FAILURE_CACHE_MS : CACHE_MS)) {
        if (hit.failed) throw new ProviderUnavailableError(hit.failed);
        return hit.config;
      }
      const config = discover(provider, secret);
      const entry: CacheEntry = { at: now(), config };
      cache.set(key, entry);
      try {
        return await config;
      } catch (err) {
        // Remembered briefly: sign-ins meanwhile get the page at once, and cannot make us call a dead provider again and again.
        entry.failed = `discovery failed: ${describe(err)}`;
        entry.at = now();
        throw new ProviderUnavailableError(entry.failed);
      }
    },
  };
}

/** An error's code and first line, for logs and audit lines (openid-client's messages carry no secrets). */
export function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; name?: unknown };
  const message = typeof e.message === 'string' ? e.message.split('\n')[0]!.slice(0, 200) : String(err).slice(0, 200);
  return typeof e.code === 'string' ? `${e.code}: ${message}` : message;
}
