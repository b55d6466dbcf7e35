import { isNotNull } from 'drizzle-orm';
import { sqliteTable, text, integer, index, primaryKey, uniqueIndex } from 'drizzle-orm/sqlite-core';

// Times are Unix milliseconds. Secrets (passwords, client secrets, codes, refresh tokens,
// session ids) are stored only as hashes; signing keys only envelope-encrypted.

export const users = sqliteTable('users', {
  id: text().primaryKey(),
  email: text().notNull(),
  passwordHash: text().notNull(),
  /** A role the stack file declares (checked where it is set and where it is used; the file may change). */
  role: text().notNull(),
  createdAt: integer().notNull(),
  disabledAt: integer(),
}, (t) => [uniqueIndex('users_email_uq').on(t.email)]);

export const clients = sqliteTable('clients', {
  id: text().primaryKey(),
  /** 'dcr' (RFC 7591), 'cimd' (Client ID Metadata Document, id is its URL) or 'admin'. */
  source: text({ enum: ['dcr', 'cimd', 'admin'] }).notNull(),
  secretHash: text(),
  clientName: text().notNull(),
  redirectUris: text({ mode: 'json' }).$type<string[]>().notNull(),
  grantTypes: text({ mode: 'json' }).$type<string[]>().notNull(),
  tokenEndpointAuthMethod: text({ enum: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'] }).notNull(),
  applicationType: text({ enum: ['native', 'web'] }).notNull(),
  /** Space-delimited scopes this client may be granted. */
  scope: text().notNull(),
  /** The full validated metadata as registered or fetched (no secrets). */
  metadata: text({ mode: 'json' }).$type<Record<string, unknown>>().notNull(),
  createdAt: integer().notNull(),
  /** For CIMD clients: when the cached document must be fetched again. */
  metadataExpiresAt: integer(),
  revokedAt: integer(),
  /** Set only by an admin: may introspect tokens issued to any client (RFC 7662 §4). */
  resourceServer: integer({ mode: 'boolean' }).notNull().default(false),
  /**
   * REGISTRATION_MODE=approval: a client that registered itself (RFC 7591, or a metadata document
   * first seen) waits here until an admin approves it; it can neither start a sign-in nor get tokens.
   * False for every client made before the mode existed, and for admin-created ones.
   */
  pendingApproval: integer({ mode: 'boolean' }).notNull().default(false),
  /**
   * For the client_credentials grant: the role the client's own tokens carry (a role the stack file
   * declares, checked where it is set and where it is used). Null for clients acting only for users.
   */
  role: text(),
  /** private_key_jwt (RFC 7523 §2.2): the client's public keys, inline (RFC 7591 §2 `jwks`)… */
  jwks: text({ mode: 'json' }).$type<{ keys: Record<string, unknown>[] }>(),
  /** …or where to fetch them (RFC 7591 §2 `jwks_uri`); at most one of the two is set. */
  jwksUri: text(),
  /**
   * When the token endpoint last issued the client a token, to the minute: written at most once a
   * minute per client (services/client-use.ts), off the response's path. Null: none since this column exists.
   */
  lastUsedAt: integer(),
});

export const signingKeys = sqliteTable('signing_keys', {
  kid: text().primaryKey(),
  alg: text().notNull(),
  publicJwk: text({ mode: 'json' }).$type<Record<string, unknown>>().notNull(),
  /** JSON envelope (AES-256-GCM data key wrapped by the key-encryption key). */
  privateKeyEnvelope: text({ mode: 'json' }).$type<Record<string, unknown>>().notNull(),
  createdAt: integer().notNull(),
  /** Set when a newer key takes over signing; the key stays published until retiredAt + max token lifetime. */
  retiredAt: integer(),
});

export const sessions = sqliteTable('sessions', {
  idHash: text().primaryKey(),
  userId: text().notNull().references(() => users.id, { onDelete: 'cascade' }),
  createdAt: integer().notNull(),
  expiresAt: integer().notNull(),
  /** When the session was last used, to within SESSION_TOUCH_INTERVAL (services/sessions.ts); shown on the account page. */
  lastSeenAt: integer(),
  /**
   * The second factor the session was opened with ('totp', 'passkey', 'recovery_code',
   * 'federated_amr'), or null: a session without one does not count for a role the stack file
   * requires a second factor of (services/sessions.ts), whenever that requirement came.
   */
  secondFactor: text(),
}, (t) => [index('sessions_user_idx').on(t.userId)]);

/**
 * Password reset links made by an admin (`users reset-link`), by the SHA-256 of the random token in
 * the link. Used once (usedAt), and only until expiresAt.
 */
export const passwordResets = sqliteTable('password_resets', {
  tokenHash: text().primaryKey(),
  userId: text().notNull().references(() => users.id, { onDelete: 'cascade' }),
  createdAt: integer().notNull(),
  expiresAt: integer().notNull(),
  usedAt: integer(),
}, (t) => [index('password_resets_user_idx').on(t.userId)]);

export const authorizationCodes = sqliteTable('authorization_codes', {
  codeHash: text().primaryKey(),
  clientId: text().notNull(),
  userId: text().notNull(),
  redirectUri: text().notNull(),
  codeChallenge: text().notNull(),
  resource: text().notNull(),
  scope: text().notNull(),
  createdAt: integer().notNull(),
  expiresAt: integer().notNull(),
  consumedAt: integer(),
  /** RFC 9449 §10: the `dpop_jkt` of the authorization request; the token request's proof must use that key. */
  dpopJkt: text(),
});

export const refreshTokens = sqliteTable('refresh_tokens', {
  id: text().primaryKey(),
  tokenHash: text().notNull(),
  familyId: text().notNull(),
  clientId: text().notNull(),
  userId: text().notNull(),
  scope: text().notNull(),
  resource: text().notNull(),
  /** Hash of the authorization code the family came from (RFC 9700 §4.5.3.1: code reuse revokes it). */
  codeHash: text(),
  createdAt: integer().notNull(),
  expiresAt: integer().notNull(),
  /** When this token was exchanged for its successor. */
  rotatedAt: integer(),
  successorId: text(),
  /**
   * The successor token response, encrypted with a key derived from this token, kept only for the
   * grace window so that concurrent refreshes with the same token get the same new pair.
   */
  successorSealed: text(),
  revokedAt: integer(),
  /** RFC 9449 §5: the key thumbprint a public client's refresh token is bound to; every refresh needs a proof by that key. */
  dpopJkt: text(),
}, (t) => [
  uniqueIndex('refresh_tokens_hash_uq').on(t.tokenHash),
  index('refresh_tokens_family_idx').on(t.familyId),
  index('refresh_tokens_user_idx').on(t.userId),
  index('refresh_tokens_client_idx').on(t.clientId),
  index('refresh_tokens_code_idx').on(t.codeHash),
  // Rotation clears the seal of the token's predecessor (the row whose successor is the presented
  // token); only rows still holding a seal are indexed, so the index stays a few rows large and the
  // lookup does not scan the whole family, which grows by one row per refresh.
  index('refresh_tokens_sealed_successor_idx').on(t.successorId).where(isNotNull(t.successorSealed)),
]);

/** Access tokens (by jti) revoked before they expire; polled by the MCP server. */
export const revokedAccessTokens = sqliteTable('revoked_access_tokens', {
  jti: text().primaryKey(),
  expiresAt: integer().notNull(),
  revokedAt: integer().notNull(),
}, (t) => [index('revoked_at_idx').on(t.revokedAt)]);

/** Access tokens issued, by jti, so that a family or code revocation can revoke its access tokens too. */
export const issuedAccessTokens = sqliteTable('issued_access_tokens', {
  jti: text().primaryKey(),
  familyId: text().notNull(),
  clientId: text().notNull(),
  userId: text().notNull(),
  expiresAt: integer().notNull(),
}, (t) => [index('issued_family_idx').on(t.familyId), index('issued_exp_idx').on(t.expiresAt)]);

export const consents = sqliteTable('consents', {
  userId: text().notNull(),
  clientId: text().notNull(),
  resource: text().notNull(),
  scope: text().notNull(),
  createdAt: integer().notNull(),
}, (t) => [primaryKey({ columns: [t.userId, t.clientId, t.resource] })]);

/**
 * Authorization requests waiting for login and consent, by the SHA-256 of the random id carried in
 * the forms. Kept in the database so that every instance behind a load balancer can continue them.
 */
export const pendingAuthorizations = sqliteTable('pending_authorizations', {
  idHash: text().primaryKey(),
  /** The validated request (client, redirect URI, state, PKCE challenge, resource, scopes). */
  request: text({ mode: 'json' }).$type<Record<string, unknown>>().notNull(),
  /**
   * SHA-256 of the browser-binding cookie of the browser that started the request (RFC 9700 §4.7):
   * login and consent are refused elsewhere. Null only in rows stored before binding existed, which are refused.
   */
  bindingHash: text(),
  /**
   * The address key (addressLimitKey, IPv6 by its /48) of the client that started the request: live
   * requests are capped per address, a new one replacing that address's oldest. '' in rows stored before.
   */
  addressKey: text().notNull().default(''),
  createdAt: integer().notNull(),
  expiresAt: integer().notNull(),
}, (t) => [index('pending_exp_idx').on(t.expiresAt), index('pending_addr_idx').on(t.addressKey, t.createdAt)]);

/**
 * A person's TOTP authenticator (RFC 6238): the shared secret, envelope-encrypted with the
 * key-encryption key like the signing keys. confirmedAt is null while enrollment waits for the first
 * valid code. lastStep is the time step of the last accepted code: a code of that step or an earlier
 * one is refused (RFC 6238 §5.2, one use per code).
 */
export const totpFactors = sqliteTable('totp_factors', {
  userId: text().primaryKey().references(() => users.id, { onDelete: 'cascade' }),
  secretEnvelope: text({ mode: 'json' }).$type<Record<string, unknown>>().notNull(),
  createdAt: integer().notNull(),
  confirmedAt: integer(),
  lastStep: integer(),
});

/** One-time recovery codes, only as SHA-256 of the user id and the code; usedAt set when spent. */
export const recoveryCodes = sqliteTable('recovery_codes', {
  userId: text().notNull().references(() => users.id, { onDelete: 'cascade' }),
  codeHash: text().notNull(),
  createdAt: integer().notNull(),
  usedAt: integer(),
}, (t) => [primaryKey({ columns: [t.userId, t.codeHash] })]);

/** WebAuthn credentials (passkeys): the credential id and COSE public key (base64url), and the signature counter. */
export const passkeys = sqliteTable('passkeys', {
  id: text().primaryKey(),
  userId: text().notNull().references(() => users.id, { onDelete: 'cascade' }),
  publicKey: text().notNull(),
  counter: integer().notNull(),
  transports: text({ mode: 'json' }).$type<string[]>().notNull(),
  /** A label the person can tell their passkeys apart by. */
  name: text().notNull(),
  createdAt: integer().notNull(),
  lastUsedAt: integer(),
}, (t) => [index('passkeys_user_idx').on(t.userId)]);

/** WebAuthn challenges handed to a browser, each usable once (deleted when used) and only until expiresAt. */
export const webauthnChallenges = sqliteTable('webauthn_challenges', {
  challenge: text().primaryKey(),
  userId: text().notNull(),
  purpose: text({ enum: ['register', 'authenticate'] }).notNull(),
  expiresAt: integer().notNull(),
}, (t) => [index('webauthn_challenges_exp_idx').on(t.expiresAt)]);

/**
 * Who signed in through an upstream identity provider: the provider (its slug in the stack file)
 * and the subject it names them by (OpenID Connect `sub`, GitHub's user id) → the local user. Made
 * at the first sign-in (just-in-time) or when linked by a verified email; deleted with the user.
 */
export const federatedIdentities = sqliteTable('federated_identities', {
  provider: text().notNull(),
  subject: text().notNull(),
  userId: text().notNull().references(() => users.id, { onDelete: 'cascade' }),
  createdAt: integer().notNull(),
}, (t) => [primaryKey({ columns: [t.provider, t.subject] }), index('federated_user_idx').on(t.userId)]);

export { auditAnchors } from '../audit-anchors.ts';
