import { isNotNull } from 'drizzle-orm';
import { pgTable, text, bigint, boolean, jsonb, index, primaryKey, uniqueIndex } from 'drizzle-orm/pg-core';
import { pgAnchorTable } from '../pg-anchor-table.ts';

// The PostgreSQL mirror of ./schema.ts (SQLite): same tables, columns and indexes, so both engines
// hold the same rows. Times are Unix milliseconds in bigint columns read as JS numbers (safe until
// year 287396); JSON columns are jsonb. Keep the two files in step.

const ms = () => bigint({ mode: 'number' });

export const users = pgTable('users', {
  id: text().primaryKey(),
  email: text().notNull(),
  passwordHash: text().notNull(),
  /** A role the stack file declares (checked where it is set and where it is used; the file may change). */
  role: text().notNull(),
  createdAt: ms().notNull(),
  disabledAt: ms(),
}, (t) => [uniqueIndex('users_email_uq').on(t.email)]);

export const clients = pgTable('clients', {
  id: text().primaryKey(),
  source: text({ enum: ['dcr', 'cimd', 'admin'] }).notNull(),
  secretHash: text(),
  clientName: text().notNull(),
  redirectUris: jsonb().$type<string[]>().notNull(),
  grantTypes: jsonb().$type<string[]>().notNull(),
  tokenEndpointAuthMethod: text({ enum: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'] }).notNull(),
  applicationType: text({ enum: ['native', 'web'] }).notNull(),
  scope: text().notNull(),
  metadata: jsonb().$type<Record<string, unknown>>().notNull(),
  createdAt: ms().notNull(),
  metadataExpiresAt: ms(),
  revokedAt: ms(),
  resourceServer: boolean().notNull().default(false),
  pendingApproval: boolean().notNull().default(false),
  role: text(),
  jwks: jsonb().$type<{ keys: Record<string, unknown>[] }>(),
  jwksUri: text(),
  lastUsedAt: ms(),
});

export const signingKeys = pgTable('signing_keys', {
  kid: text().primaryKey(),
  alg: text().notNull(),
  publicJwk: jsonb().$type<Record<string, unknown>>().notNull(),
  privateKeyEnvelope: jsonb().$type<Record<string, unknown>>().notNull(),
  createdAt: ms().notNull(),
  retiredAt: ms(),
});

// No foreign key to users, unlike SQLite: drizzle-kit writes references as "public"."users", which
// would pin the tables to the public schema (DATABASE_SCHEMA, and each test's own schema, need
// others). Deleting a user (`users delete`) deletes their rows in the same transaction instead.
export const sessions = pgTable('sessions', {
  idHash: text().primaryKey(),
  userId: text().notNull(),
  createdAt: ms().notNull(),
  expiresAt: ms().notNull(),
  lastSeenAt: ms(),
  /** The second factor the session was opened with, or null (see the SQLite schema). */
  secondFactor: text(),
}, (t) => [index('sessions_user_idx').on(t.userId)]);

/** Password reset links (see the SQLite schema). */
export const passwordResets = pgTable('password_resets', {
  tokenHash: text().primaryKey(),
  userId: text().notNull(),
  createdAt: ms().notNull(),
  expiresAt: ms().notNull(),
  usedAt: ms(),
}, (t) => [index('password_resets_user_idx').on(t.userId)]);

export const authorizationCodes = pgTable('authorization_codes', {
  codeHash: text().primaryKey(),
  clientId: text().notNull(),
  userId: text().notNull(),
  redirectUri: text().notNull(),
  codeChallenge: text().notNull(),
  resource: text().notNull(),
  scope: text().notNull(),
  createdAt: ms().notNull(),
  expiresAt: ms().notNull(),
  consumedAt: ms(),
  dpopJkt: text(),
});

export const refreshTokens = pgTable('refresh_tokens', {
  id: text().primaryKey(),
  tokenHash: text().notNull(),
  familyId: text().notNull(),
  clientId: text().notNull(),
  userId: text().notNull(),
  scope: text().notNull(),
  resource: text().notNull(),
  codeHash: text(),
  createdAt: ms().notNull(),
  expiresAt: ms().notNull(),
  rotatedAt: ms(),
  successorId: text(),
  successorSealed: text(),
  revokedAt: ms(),
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

export const revokedAccessTokens = pgTable('revoked_access_tokens', {
  jti: text().primaryKey(),
  expiresAt: ms().notNull(),
  revokedAt: ms().notNull(),
}, (t) => [index('revoked_at_idx').on(t.revokedAt)]);

export const issuedAccessTokens = pgTable('issued_access_tokens', {
  jti: text().primaryKey(),
  familyId: text().notNull(),
  clientId: text().notNull(),
  userId: text().notNull(),
  expiresAt: ms().notNull(),
}, (t) => [index('issued_family_idx').on(t.familyId), index('issued_exp_idx').on(t.expiresAt)]);

export const consents = pgTable('consents', {
  userId: text().notNull(),
  clientId: text().notNull(),
  resource: text().notNull(),
  scope: text().notNull(),
  createdAt: ms().notNull(),
}, (t) => [primaryKey({ columns: [t.userId, t.clientId, t.resource] })]);

/** Upstream identity provider + subject → local user (see the SQLite schema; no foreign key, like sessions: DATABASE_SCHEMA may rename the schema). */
export const federatedIdentities = pgTable('federated_identities', {
  provider: text().notNull(),
  subject: text().notNull(),
  userId: text().notNull(),
  createdAt: ms().notNull(),
}, (t) => [primaryKey({ columns: [t.provider, t.subject] }), index('federated_user_idx').on(t.userId)]);

export const pendingAuthorizations = pgTable('pending_authorizations', {
  idHash: text().primaryKey(),
  request: jsonb().$type<Record<string, unknown>>().notNull(),
  /** SHA-256 of the starting browser's binding cookie (see the SQLite schema). */
  bindingHash: text(),
  /** The starting client's address key (see the SQLite schema). */
  addressKey: text().notNull().default(''),
  createdAt: ms().notNull(),
  expiresAt: ms().notNull(),
}, (t) => [index('pending_exp_idx').on(t.expiresAt), index('pending_addr_idx').on(t.addressKey, t.createdAt)]);

/** Audit chain anchors (see the SQLite schema). */
export const auditAnchors = pgAnchorTable('audit_anchors');

// Second factors (see the SQLite schema). No foreign keys, as for sessions.
export const totpFactors = pgTable('totp_factors', {
  userId: text().primaryKey(),
  secretEnvelope: jsonb().$type<Record<string, unknown>>().notNull(),
  createdAt: ms().notNull(),
  confirmedAt: ms(),
  lastStep: ms(),
});

export const recoveryCodes = pgTable('recovery_codes', {
  userId: text().notNull(),
  codeHash: text().notNull(),
  createdAt: ms().notNull(),
  usedAt: ms(),
}, (t) => [primaryKey({ columns: [t.userId, t.codeHash] })]);

export const passkeys = pgTable('passkeys', {
  id: text().primaryKey(),
  userId: text().notNull(),
  publicKey: text().notNull(),
  counter: ms().notNull(),
  transports: jsonb().$type<string[]>().notNull(),
  name: text().notNull(),
  createdAt: ms().notNull(),
  lastUsedAt: ms(),
}, (t) => [index('passkeys_user_idx').on(t.userId)]);

export const webauthnChallenges = pgTable('webauthn_challenges', {
  challenge: text().primaryKey(),
  userId: text().notNull(),
  purpose: text({ enum: ['register', 'authenticate'] }).notNull(),
  expiresAt: ms().notNull(),
}, (t) => [index('webauthn_challenges_exp_idx').on(t.expiresAt)]);
