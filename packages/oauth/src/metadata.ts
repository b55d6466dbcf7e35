import { ROLES, SCOPES } from './roles.ts';

export interface AuthorizationServerMetadataInput {
  issuer: string;
  registrationEnabled: boolean;
  cimdEnabled: boolean;
  scopes?: readonly string[];
}

/** RFC 8414 §2 authorization server metadata for this server (also served as OpenID discovery). */
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
    scopes_supported: [...(i.scopes ?? SCOPES)],
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
    // OpenID-discovery members that OAuth-only clients ignore; we issue no ID tokens.
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope', 'role'],
    roles_supported: [...ROLES],
  };
}
