export interface AuthorizationServerMetadataInput {
  issuer: string;
  registrationEnabled: boolean;
  cimdEnabled: boolean;
  /** The scopes this server issues (scopes_supported), in the order to list them. */
  scopes: readonly string[];
  /** The user roles (roles_supported). */
  roles: readonly string[];
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
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    // RFC 9207: iss is in every authorization response, success and error.
    authorization_response_iss_parameter_supported: true,
    client_id_metadata_document_supported: i.cimdEnabled,
    roles_supported: [...i.roles],
  };
}
