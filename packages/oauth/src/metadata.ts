import { DEFAULT_ASSERTION_ALGS } from './jwt-assertion.ts';

export interface AuthorizationServerMetadataInput {
  issuer: string;
  registrationEnabled: boolean;
  cimdEnabled: boolean;
  /** The scopes this server issues (scopes_supported), in the order to list them. */
  scopes: readonly string[];
  /** The user roles (roles_supported). */
  roles: readonly string[];
  /** DPoP proof algorithms accepted at the token endpoint (RFC 9449 §5.1); absent: DPoP is not offered. */
  dpopSigningAlgs?: readonly string[] | undefined;
  /** An enterprise IdP or workload issuer is trusted: the JWT bearer grant (RFC 7523 §2.1) is offered. */
  jwtBearerGrant?: boolean;
}

/**
 * RFC 8414 §2 authorization server metadata for this server. Only what the server does is
 * advertised: it issues no ID tokens, so the OpenID Connect Discovery members (§3 requires
 * subject_types_supported and id_token_signing_alg_values_supported; claims_supported describes
 * ID token and UserInfo claims) are left out, and no OpenID discovery document is served at all.
 */
export function authorizationServerMetadata(i: AuthorizationServerMetadataInput): Record<string, unknown> {
  const base = i.issuer;
  return {
    issuer: i.issuer,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    jwks_uri: `${base}/jwks`,
    ...(i.registrationEnabled ? { registration_endpoint: `${base}/register` } : {}),
    revocation_endpoint: `${base}/revoke`,
    introspection_endpoint: `${base}/introspect`,
    scopes_supported: [...i.scopes],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    // client_credentials: the MCP client credentials extension (SEP-1046), for admin-registered clients.
    // jwt-bearer: ID-JAGs (MCP enterprise-managed authorization) and workload tokens, when an issuer is trusted.
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials', ...(i.jwtBearerGrant ? ['urn:ietf:params:oauth:grant-type:jwt-bearer'] : [])],
    code_challenge_methods_supported: ['S256'],
    // private_key_jwt (RFC 7523 §2.2): RFC 8414 §2 then requires the *_auth_signing_alg_values_supported lists.
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: [...DEFAULT_ASSERTION_ALGS],
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    revocation_endpoint_auth_signing_alg_values_supported: [...DEFAULT_ASSERTION_ALGS],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    introspection_endpoint_auth_signing_alg_values_supported: [...DEFAULT_ASSERTION_ALGS],
    // RFC 9207: iss is in every authorization response, success and error.
    authorization_response_iss_parameter_supported: true,
    client_id_metadata_document_supported: i.cimdEnabled,
    roles_supported: [...i.roles],
    ...(i.dpopSigningAlgs ? { dpop_signing_alg_values_supported: [...i.dpopSigningAlgs] } : {}),
  };
}
