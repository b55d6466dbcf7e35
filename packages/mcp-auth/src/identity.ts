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
  /**
   * Set when the access token is sender-constrained (it has an RFC 7800 `cnf` claim): `jkt` is the
   * RFC 9449 §6.1 thumbprint of the DPoP key it is bound to, undefined for a `cnf` this code cannot
   * read (such a token is refused either way: it may be used neither as a bearer token nor with a proof).
   */
  binding?: { jkt: string | undefined };
};

/** Freezes an identity and its scopes so a cached identity cannot be changed by one request for the next. */
export function freezeIdentity(identity: Identity): Identity {
  Object.freeze(identity.scopes);
  if (identity.binding) Object.freeze(identity.binding);
  return Object.freeze(identity);
}
