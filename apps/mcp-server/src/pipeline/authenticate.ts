import { ConfigError } from '@stack/config';
import { OAuthError, invalidToken, type Role } from '@stack/oauth';
import { defaultRoleScopes, identityFromCertificate, isApiKeyShaped, type Identity, type RoleScopes } from '@stack/mcp-auth';
import type { AuthMethod } from '@stack/stack-config';
import type { AuthMode } from '../config.ts';

/** What a request presents; the transport (HTTP, TLS, stdio) fills in what it has. */
export interface Credentials {
  authorization?: string | undefined;
  apiKey?: string | undefined;
  /** The peer certificate of a TLS connection, and whether its chain verified against our CA. */
  certificate?: { subject?: { CN?: string | string[] }; fingerprint256?: string } | undefined;
  certificateAuthorized?: boolean | undefined;
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
  /** Returns the caller's identity or throws an invalid_token OAuthError (401). Never logs the credential. */
  authenticate(c: Credentials): Promise<Identity>;
}

// RFC 6750 §2.1: "Bearer" is case-insensitive, followed by one space and the token.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  const m = BEARER.exec(header);
  if (!m) throw invalidToken('authorization header must be "Bearer <token>"');
  return m[1];
}

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
  const missing = jwt && keys ? 'no access token or api key was sent' : jwt ? 'no access token was sent' : 'no api key was sent';
  return {
    accepts: methods,
    oauth: jwt !== undefined,
    async authenticate(c) {
      if (c.apiKey) {
        if (!keys) throw invalidToken('this server does not accept api keys');
        return keys.verify(c.apiKey);
      }
      const value = bearerToken(c.authorization);
      if (!value) throw new MissingCredentialsError(missing);
      if (isApiKeyShaped(value)) {
        if (!keys) throw invalidToken('this server does not accept api keys');
        return keys.verify(value);
      }
      if (!jwt) throw invalidToken('this server accepts only api keys');
      return jwt.verify(value);
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
