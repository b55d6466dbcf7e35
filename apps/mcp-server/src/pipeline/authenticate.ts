import { OAuthError, ROLE_SCOPES, invalidToken, type Role } from '@stack/oauth';
import { identityFromCertificate, type Identity } from '@stack/mcp-auth';
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
}

export interface Authenticator {
  mode: AuthMode;
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

/** Builds the authentication step for one mode. */
export function createAuthenticator(mode: AuthMode, v: Verifiers): Authenticator {
  const need = <T>(x: T | undefined, what: string): T => {
    if (x === undefined) throw new TypeError(`${what} is required for auth mode '${mode}'`);
    return x;
  };
  switch (mode) {
    case 'oauth': {
      const jwt = need(v.jwt, 'a JWT verifier');
      return {
        mode,
        async authenticate(c) {
          const token = bearerToken(c.authorization);
          if (!token) throw new MissingCredentialsError('no access token was sent');
          return jwt.verify(token);
        },
      };
    }
    case 'apikey': {
      const keys = need(v.apiKeys, 'an API key store');
      return {
        mode,
        async authenticate(c) {
          const key = c.apiKey || bearerToken(c.authorization);
          if (!key) throw new MissingCredentialsError('no api key was sent');
          return keys.verify(key);
        },
      };
    }
    case 'mtls': {
      const map = need(v.mtlsRoleMap, 'a certificate role map');
      return {
        mode,
        async authenticate(c) {
          if (!c.certificate || Object.keys(c.certificate).length === 0) throw new MissingCredentialsError('no client certificate was sent');
          if (!c.certificateAuthorized) throw invalidToken('client certificate is not trusted');
          return identityFromCertificate(c.certificate, map);
        },
      };
    }
    case 'none': {
      const role = need(v.noAuthRole, 'a role for unauthenticated callers');
      const identity: Identity = Object.freeze({ kind: 'local', subject: 'local:anonymous', role, scopes: [...ROLE_SCOPES[role]] });
      return { mode, authenticate: async () => identity };
    }
  }
}
