import { ConfigError } from '@stack/config';
import { OAuthError, checkDpopBinding, expectedHtu, invalidDpopProof, invalidToken, type Role } from '@stack/oauth';
import { defaultRoleScopes, identityFromCertificate, isApiKeyShaped, type Identity, type RoleScopes } from '@stack/mcp-auth';
import type { AuthMethod } from '@stack/stack-config';
import type { AuthMode } from '../config.ts';
import type { ServerDpop } from './dpop.ts';

/** What a request presents; the transport (HTTP, TLS, stdio) fills in what it has. */
export interface Credentials {
  authorization?: string | undefined;
  apiKey?: string | undefined;
  /** The peer certificate of a TLS connection, and whether its chain verified against our CA. */
  certificate?: { subject?: { CN?: string | string[] }; fingerprint256?: string } | undefined;
  certificateAuthorized?: boolean | undefined;
  /** The `DPoP` proof header(s) and the request method (RFC 9449 §7), over HTTP. */
  dpopProof?: string | readonly string[] | undefined;
  method?: string | undefined;
}

/** Sent with no credentials at all: RFC 6750 §3.1 says the challenge then carries no error code. */
export class MissingCredentialsError extends OAuthError {
  constructor(description: string) {
    super('invalid_token', description, 401);
    this.name = 'MissingCredentialsError';
  }
}

export interface Verifiers {
  jwt?: { verify(token: string): Promise<Identity> };
  apiKeys?: { verify(key: string): Promise<Identity> };
  mtlsRoleMap?: Record<string, Role>;
  noAuthRole?: Role;
  /** The declared roles and their scopes (the stack file's): for certificates and no-auth callers. */
  roleScopes?: RoleScopes;
  /** DPoP for access tokens: the server's mode and the app's proof checks (with `jwt`). */
  dpop?: ServerDpop;
  /** The server's resource URL: the audience of its tokens and every proof's `htu`. */
  resourceUrl?: string;
}

/**
 * What one protected server accepts: MCP_AUTH_MODE=mtls or none applies to every server; otherwise
 * each accepts the methods its stack-file entry names in `auth` (oauth, apikey or both).
 */
export type Accepts = 'mtls' | 'none' | readonly AuthMethod[];

/**
 * What a server accepts: mtls and none as MCP_AUTH_MODE says, for every server; else the methods
 * of its stack entry, and MCP_AUTH_MODE (oauth or apikey) when the entry names none.
 */
export function serverAccepts(mode: AuthMode, auth: readonly AuthMethod[] | undefined): Accepts {
  if (mode === 'mtls' || mode === 'none') return mode;
  return auth ?? [mode];
}

/** How an Accepts value reads in logs and the servers list: `oauth+apikey`, `mtls`… */
export const describeAccepts = (a: Accepts): string => (typeof a === 'string' ? a : a.join('+'));

export interface Authenticator {
  accepts: Accepts;
  /** Whether it takes OAuth access tokens: its server then has RFC 9728 metadata, which its challenges name. */
  oauth: boolean;
  /**
   * With `oauth`: the proof algorithms it accepts, whether it takes only DPoP-bound tokens (RFC 9449)
   * and, with server nonces on, the current nonce.
   */
  dpop?: { algs: readonly string[]; required: boolean; nonce?: (() => string) | undefined } | undefined;
  /** Returns the caller's identity or throws an invalid_token OAuthError (401). Never logs the credential. */
  authenticate(c: Credentials): Promise<Identity>;
}

// RFC 6750 §2.1 and RFC 9449 §7.1: the scheme (case-insensitive), then one space and the token.
const AUTHORIZATION = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The scheme and the token of an Authorization header; undefined when there is none. */
function presented(header: string | undefined): { dpop: boolean; token: string } | undefined {
  if (header === undefined || header === '') return undefined;
  const m = AUTHORIZATION.exec(header);
  if (!m) throw invalidToken('authorization header must be "Bearer <token>" or "DPoP <token>"');
  return { dpop: m[1]!.toLowerCase() === 'dpop', token: m[2]! };
}

/** Whether a request presents its credential with the DPoP scheme (its challenges then use that scheme, RFC 9449 §7.1). */
export const usesDpopScheme = (authorization: string | undefined): boolean => authorization !== undefined && /^DPoP /i.test(authorization);

const need = <T>(x: T | undefined, what: string, accepts: Accepts): T => {
  if (x === undefined) throw new TypeError(`${what} is required for auth '${describeAccepts(accepts)}'`);
  return x;
};

/**
 * Access tokens, API keys or either. An API key comes in X-API-Key or as the bearer value; which
 * one a bearer value is follows from its form alone (isApiKeyShaped: our keys' prefix), so a
 * JWT is never looked up as a key nor a key parsed as a JWT. X-API-Key, when sent to a server
 * that takes keys, is the credential (an Authorization header beside it is not read); sent to one
 * that does not, it is refused rather than ignored, so a caller learns its key does not count here.
 */
function tokenOrKey(methods: readonly AuthMethod[], v: Verifiers): Authenticator {
  const jwt = methods.includes('oauth') ? need(v.jwt, 'a JWT verifier', methods) : undefined;
  const keys = methods.includes('apikey') ? need(v.apiKeys, 'an API key store', methods) : undefined;
  const dpop = jwt ? need(v.dpop, 'DPoP proof checks', methods) : undefined;
  // Normalised once here rather than for every proof (RFC 9449 §4.3 point 9).
  const htu = dpop ? expectedHtu(need(v.resourceUrl, 'the resource URL', methods)) : undefined;
  const required = dpop?.mode === 'required';
  const missing = jwt && keys ? 'no access token or api key was sent' : jwt ? 'no access token was sent' : 'no api key was sent';

  /** RFC 9449 §7.1: a bound token with a proof by its key, for this method and URL. */
  async function dpopBound(token: string, c: Credentials): Promise<Identity> {
    const identity = await jwt!.verify(token);
    const bound = identity.binding?.jkt;
    if (bound === undefined) throw invalidToken('the DPoP scheme needs a DPoP-bound access token');
    const jkt = await dpop!.checks.verify({ proof: c.dpopProof, method: c.method ?? 'POST', htu: htu!, accessToken: token });
    // RFC 9449 §4.3 point 12, §6.1: a stolen token is useless without its key.
    if (!checkDpopBinding(bound, jkt)) throw invalidDpopProof('the DPoP proof is not signed by the key the access token is bound to', 401);
    return identity;
  }

  return {
    accepts: methods,
    oauth: jwt !== undefined,
    dpop: dpop ? { algs: dpop.checks.algs, required, nonce: dpop.checks.nonce } : undefined,
    async authenticate(c) {
      if (c.apiKey) {
        if (!keys) throw invalidToken('this server does not accept api keys');
        return keys.verify(c.apiKey);
      }
      const sent = presented(c.authorization);
      if (!sent) throw new MissingCredentialsError(missing);
      const value = sent.token;
      if (isApiKeyShaped(value)) {
        if (!keys) throw invalidToken('this server does not accept api keys');
        if (sent.dpop) throw invalidToken('an api key is sent as X-API-Key or with the Bearer scheme');
        return keys.verify(value);
      }
      if (!jwt) throw invalidToken('this server accepts only api keys');
      if (sent.dpop) return dpopBound(value, c);
      if (required) throw invalidToken('this server accepts only DPoP-bound access tokens, sent with the DPoP scheme and a proof');
      const identity = await jwt.verify(value);
      // RFC 9449 §7.2: whoever stole a bound token must not get to use it as a bearer token.
      if (identity.binding) throw invalidToken('this access token is DPoP-bound: send it with the DPoP scheme and a proof');
      return identity;
    },
  };
}

/**
 * The roles the settings name for `mode` (MCP_NO_AUTH_ROLE, MCP_MTLS_ROLE_MAP) must be ones the
 * stack file declares: a start error naming them, not a refusal of every request.
 */
export function checkConfiguredRoles(mode: AuthMode, v: Pick<Verifiers, 'mtlsRoleMap' | 'noAuthRole' | 'roleScopes'>): void {
  const declared = v.roleScopes ?? defaultRoleScopes;
  if (mode === 'none' && v.noAuthRole !== undefined && !declared(v.noAuthRole)) {
    throw new ConfigError([`MCP_NO_AUTH_ROLE: role '${v.noAuthRole}' is not one the stack file declares`]);
  }
  const unmapped = mode === 'mtls' ? [...new Set(Object.values(v.mtlsRoleMap ?? {}))].filter((r) => !declared(r)) : [];
  if (unmapped.length) throw new ConfigError([`MCP_MTLS_ROLE_MAP: role(s) ${unmapped.join(', ')} not declared in the stack file`]);
}

/** Builds the authentication step for what one server accepts (an MCP_AUTH_MODE value stands for itself). */
export function createAuthenticator(accepts: AuthMode | Accepts, v: Verifiers): Authenticator {
  if (accepts === 'oauth' || accepts === 'apikey') return tokenOrKey([accepts], v);
  if (typeof accepts !== 'string') return tokenOrKey(accepts, v);
  switch (accepts) {
    case 'mtls': {
      const map = need(v.mtlsRoleMap, 'a certificate role map', accepts);
      checkConfiguredRoles(accepts, v);
      return {
        accepts,
        oauth: false,
        async authenticate(c) {
          if (!c.certificate || Object.keys(c.certificate).length === 0) throw new MissingCredentialsError('no client certificate was sent');
          if (!c.certificateAuthorized) throw invalidToken('client certificate is not trusted');
          return identityFromCertificate(c.certificate, map, v.roleScopes);
        },
      };
    }
    case 'none': {
      const role = need(v.noAuthRole, 'a role for unauthenticated callers', accepts);
      checkConfiguredRoles(accepts, v);
      const identity: Identity = Object.freeze({ kind: 'local', subject: 'local:anonymous', role, scopes: [...((v.roleScopes ?? defaultRoleScopes)(role) ?? [])] });
      return { accepts, oauth: false, authenticate: async () => identity };
    }
  }
}
