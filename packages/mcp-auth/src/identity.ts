import type { Role } from '@stack/oauth';

/** Who is calling the MCP server, however they authenticated. Frozen when produced by this package. */
export type Identity = {
  /** `client`: an access token a client obtained for itself (client_credentials: sub = client_id). */
  kind: 'user' | 'client' | 'apikey' | 'certificate' | 'local';
  /** Stable id for rate limits and audit: the token `sub`, `apikey:<id>` or `certificate:<cn|fingerprint>`. */
  subject: string;
  role: Role;
  /** Effective scopes, already capped by what the role may hold (the stack file's scopes for it). */
  scopes: string[];
  /** OAuth `client_id` (JWT access tokens only). */
  clientId?: string;
  /** Token `jti` or API key id, for audit and revocation. */
  tokenId?: string;
};

/** Freezes an identity and its scopes so a cached identity cannot be changed by one request for the next. */
export function freezeIdentity(identity: Identity): Identity {
  Object.freeze(identity.scopes);
  return Object.freeze(identity);
}
