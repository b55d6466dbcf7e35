export type { Identity } from './identity.ts';
export { defaultRoleScopes, scopesOfRole, stackRoleScopes, type RoleScopes } from './access-token-claims.ts';
export { createJwtVerifier, type JwtVerifier, type JwtVerifierOptions } from './jwt-verifier.ts';
export {
  createRevocationPoller,
  createStaticRevocationList,
  fetchRevocationFeed,
  revocationSince,
  REVOCATION_OVERLAP_MS,
  type RevocationFeedPage,
  type RevocationList,
  type RevocationPoller,
  type RevocationPollerOptions,
} from './revocation.ts';
export { createApiKeyStore, isApiKeyShaped, type ApiKeyInfo, type ApiKeyRecords, type ApiKeyRow, type ApiKeyStore } from './api-keys.ts';
export { identityFromCertificate, type ClientCertificate } from './certificate.ts';
