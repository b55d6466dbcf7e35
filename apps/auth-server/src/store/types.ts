import type { AuditAnchorStore } from '@stack/audit';
import type { authSchema } from '@stack/db';

// Row shapes are those of the SQLite schema; the PostgreSQL schema mirrors it column for column,
// so both engines return exactly these records. Times are Unix milliseconds.
export type UserRecord = typeof authSchema.users.$inferSelect;
export type ClientRecord = typeof authSchema.clients.$inferSelect;
export type SigningKeyRecord = typeof authSchema.signingKeys.$inferSelect;
export type SessionRecord = typeof authSchema.sessions.$inferSelect;
export type AuthorizationCodeRecord = typeof authSchema.authorizationCodes.$inferSelect;
export type RefreshTokenRecord = typeof authSchema.refreshTokens.$inferSelect;
export type IssuedAccessTokenRecord = typeof authSchema.issuedAccessTokens.$inferSelect;
export type TotpFactorRecord = typeof authSchema.totpFactors.$inferSelect;
export type PasskeyRecord = typeof authSchema.passkeys.$inferSelect;
export type WebauthnChallengeRecord = typeof authSchema.webauthnChallenges.$inferSelect;
export type FederatedIdentityRecord = typeof authSchema.federatedIdentities.$inferSelect;
export type PasswordResetRecord = typeof authSchema.passwordResets.$inferSelect;
export type Role = UserRecord['role'];

/** A user as shown to operators (never the password hash). */
export type UserSummary = Omit<UserRecord, 'passwordHash'>;
/** A client as shown to operators (never the secret hash). */
export type ClientSummary = Pick<ClientRecord, 'id' | 'source' | 'clientName' | 'redirectUris' | 'grantTypes' | 'tokenEndpointAuthMethod' | 'scope' | 'role' | 'createdAt' | 'revokedAt' | 'resourceServer' | 'pendingApproval' | 'lastUsedAt'>;
/**
 * A client as registered or fetched: only an admin makes it a resource server (setResourceServer).
 * A role (client_credentials) and keys (private_key_jwt) are only for the clients that have them;
 * pendingApproval (default false) only for self-registered ones under REGISTRATION_MODE=approval.
 */
export type NewClientRecord = Omit<ClientRecord, 'resourceServer' | 'role' | 'jwks' | 'jwksUri' | 'pendingApproval' | 'lastUsedAt'>
  & { resourceServer?: boolean; pendingApproval?: boolean } & Partial<Pick<ClientRecord, 'role' | 'jwks' | 'jwksUri'>>;

/** What a revocation removed: refresh tokens, sessions and still-valid access tokens. */
export interface RevokedGrants {
  refreshTokens: number;
  sessions: number;
  accessTokens: number;
}

/** Tokens minted for a grant, stored together with the step that commits the grant. */
export interface NewTokens {
  refresh: RefreshTokenRecord | undefined;
  access: IssuedAccessTokenRecord;
}

/** A refresh-token family as operators see it (never the token or its hash): its current token's grant and times. */
export type LiveRefreshFamily = Pick<RefreshTokenRecord, 'familyId' | 'clientId' | 'scope' | 'resource' | 'createdAt' | 'expiresAt'>;

export interface RevocationEntry {
  jti: string;
  expiresAt: number;
  revokedAt: number;
}

/** What deleting a user removed or revoked. */
export interface DeletedUser extends RevokedGrants {
  consents: number;
}

/** One client a user allowed (for one resource), with when a token was last issued to it for them. */
export interface ConsentEntry {
  clientId: string;
  resource: string;
  scope: string;
  createdAt: number;
  /** The newest refresh token issued for this user and client (every refresh issues one), if any is kept. */
  lastUsedAt: number | null;
}

/** What revoking one client's grants for one user removed. */
export interface RevokedConsent {
  consents: number;
  refreshTokens: number;
  accessTokens: number;
}

export interface ConsentKey {
  userId: string;
  clientId: string;
  resource: string;
}

export interface UserRepo {
  count(): Promise<number>;
  findById(id: string): Promise<UserRecord | undefined>;
  /** By normalised (lowercase) email. */
  findByEmail(email: string): Promise<UserRecord | undefined>;
  /** Inserts a user; false when the email is taken. */
  insert(row: UserRecord): Promise<boolean>;
  list(): Promise<UserSummary[]>;
  /** One page of `list()`'s order (oldest first), at most `limit` rows after skipping `offset`: for pages, which never read every row. */
  listPage(limit: number, offset: number): Promise<UserSummary[]>;
  /** Sets the role; with `revokeAt`, atomically also revokes the user's sessions and grants. */
  setRole(id: string, role: Role, revokeAt?: number): Promise<RevokedGrants | undefined>;
  /** Disables the user (keeping an earlier disabledAt) and revokes sessions and grants, atomically. */
  disable(id: string, disabledAt: number, now: number): Promise<RevokedGrants>;
  enable(id: string): Promise<void>;
  /**
   * Replaces the password hash and ends the user's sessions except `keepSession` (an id hash: the
   * session that changed it), atomically; returns how many sessions ended.
   */
  setPassword(id: string, passwordHash: string, keepSession?: string): Promise<number>;
  /**
   * Deletes the user with their sessions, consents, reset links, second factors, federated
   * identities and unredeemed codes, and revokes
   * their refresh and access tokens (the rows stay, revoked, until they expire), atomically.
   */
  delete(id: string, now: number): Promise<DeletedUser>;
}

export interface PasswordResetRepo {
  /** Stores a reset link, replacing the user's earlier ones and sweeping expired ones. */
  create(row: PasswordResetRecord): Promise<void>;
  /** The user of an unused, unexpired link. */
  findLive(tokenHash: string, now: number): Promise<string | undefined>;
  /**
   * Uses the link once (conditional UPDATE … WHERE used_at IS NULL), sets the password hash and ends
   * every session of the user, in one transaction; the user id, or undefined when the link is
   * unknown, used or expired (then nothing changes).
   */
  redeem(tokenHash: string, passwordHash: string, now: number): Promise<string | undefined>;
}

/** Upstream identity provider (slug) + subject → local user. */
export interface FederatedIdentityRepo {
  /** The id of the local user `subject` at `provider` is linked to. */
  findUserId(provider: string, subject: string): Promise<string | undefined>;
  /** Links an identity to an existing user; false when that identity is already linked. */
  link(row: FederatedIdentityRecord): Promise<boolean>;
  /** Creates the user and links the identity, atomically; false (nothing written) when the email or the identity is taken. */
  provision(user: UserRecord, identity: FederatedIdentityRecord): Promise<boolean>;
}

export interface ClientRepo {
  /** Any client by id, revoked ones included. */
  find(id: string): Promise<ClientRecord | undefined>;
  insert(row: NewClientRecord): Promise<void>;
  /** Inserts or refreshes a cached metadata document; keeps createdAt, revokedAt, source, resourceServer and pendingApproval of an existing row. */
  upsertCimd(row: NewClientRecord): Promise<ClientRecord>;
  list(): Promise<ClientSummary[]>;
  /** `limit` clients from `offset`, oldest first, only those of `status` when given (the admin console's pages). */
  listPage(status: 'active' | 'pending' | 'revoked' | undefined, limit: number, offset: number): Promise<ClientSummary[]>;
  /**
   * Records that the client was issued a token at `now`, unless a time within `minGapMs` before
   * it is recorded already (another instance wrote it): one conditional UPDATE by primary key.
   */
  markUsed(id: string, now: number, minGapMs: number): Promise<void>;
  /** Marks the client revoked (keeping an earlier revokedAt) and revokes its grants, atomically. */
  revoke(id: string, now: number): Promise<{ alreadyRevoked: boolean; refreshTokens: number; accessTokens: number } | undefined>;
  /** Sets or clears the resource-server attribute (may introspect any token); false if no such client. */
  setResourceServer(id: string, value: boolean): Promise<boolean>;
  /** Clears the pending-approval mark (an admin approved the client); false if no such client. */
  approve(id: string): Promise<boolean>;
  /** Replaces the secret hash only while it is still `from` (a re-hash never undoes a change); false otherwise. */
  replaceSecretHash(id: string, from: string, to: string): Promise<boolean>;
}

export interface SigningKeyRepo {
  /**
   * The key that signs at `now`: of those not retired by then (retiredAt null or later), the one
   * retiring first (null last; then oldest, then by kid). A key's retiredAt may lie in the future:
   * it signs until then and its successor, already published, takes over at that moment.
   */
  active(now: number): Promise<SigningKeyRecord | undefined>;
  /** All keys, newest first. */
  list(): Promise<SigningKeyRecord[]>;
  /** Schedules every key without a retirement time to retire at `switchAt` and adds `row`, atomically. */
  rotateTo(row: SigningKeyRecord, switchAt: number): Promise<void>;
  /**
   * Scheduled rotation: rotateTo(row, switchAt), but only while every key without a retirement time
   * was created at or before `createdBy` (the signing key is old enough and no next key waits). The
   * check and the write are one transaction that excludes concurrent rotations, so instances that
   * check at the same moment add one key between them; false when nothing was written.
   */
  rotateIfCreatedBy(row: SigningKeyRecord, createdBy: number, switchAt: number): Promise<boolean>;
  /** Deletes every key (withdrawing it from the JWKS) and adds `row`, atomically; returns the kids deleted. */
  replaceAll(row: SigningKeyRecord): Promise<string[]>;
  /** Replaces private-key envelopes (key-encryption-key rotation), all in one transaction. */
  setEnvelopes(updates: readonly { kid: string; privateKeyEnvelope: Record<string, unknown> }[]): Promise<void>;
}

export interface SessionRepo {
  /** Inserts a session; expired sessions are swept at the same time. */
  create(row: Omit<SessionRecord, 'lastSeenAt' | 'secondFactor'> & Partial<Pick<SessionRecord, 'lastSeenAt' | 'secondFactor'>>, now: number): Promise<void>;
  /** A session that has not expired. */
  findLive(idHash: string, now: number): Promise<SessionRecord | undefined>;
  delete(idHash: string): Promise<void>;
  /** The user's live sessions, newest first. */
  listForUser(userId: string, now: number): Promise<SessionRecord[]>;
  /** Records use of a session (lastSeenAt), only when its last record is older than `before`. */
  touch(idHash: string, now: number, before: number): Promise<void>;
  /** Ends one session of this user (another user's id hash changes nothing); false if none matched. */
  deleteForUser(userId: string, idHash: string): Promise<boolean>;
  /** Ends every session of this user except `keep` (an id hash); returns how many ended. */
  deleteOthersForUser(userId: string, keep: string | undefined): Promise<number>;
}

/** How many pending requests are kept: per client address key, and in all. */
export interface PendingCaps {
  perAddress: number;
  max: number;
}

export interface PendingRequestRepo {
  /**
   * Stores a pending request after sweeping expired ones; never refuses. Room is made first: while
   * `addressKey` has `perAddress` live requests its oldest goes, and when `max` are pending in all
   * the oldest requests of the addresses holding the most go (pending-eviction.ts). So a flood from
   * one address only ever replaces its own requests, never someone else's (nor stops anyone from
   * starting one).
   */
  add(idHash: string, request: Record<string, unknown>, bindingHash: string, addressKey: string, now: number, expiresAt: number, caps: PendingCaps): Promise<void>;
  /** A live request and the hash of the browser binding it was started with (null: stored before binding existed). */
  get(idHash: string, now: number): Promise<{ request: Record<string, unknown>; bindingHash: string | null } | undefined>;
  delete(idHash: string): Promise<void>;
}

export interface CodeRepo {
  insert(row: AuthorizationCodeRecord): Promise<void>;
  findByHash(codeHash: string): Promise<AuthorizationCodeRecord | undefined>;
  /**
   * Consumes the code (conditional UPDATE … WHERE consumed_at IS NULL) and stores its tokens in one
   * transaction. Of any number of concurrent redemptions, across processes, exactly one returns true.
   */
  redeem(codeHash: string, now: number, tokens: NewTokens): Promise<boolean>;
}

export interface TokenRepo {
  findRefreshByHash(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  findRefreshById(id: string): Promise<RefreshTokenRecord | undefined>;
  /**
   * Rotates a refresh token: marks it rotated (conditional UPDATE … WHERE rotated_at IS NULL AND
   * revoked_at IS NULL) with its sealed successor, drops older seals and stores the new tokens, in
   * one transaction. Of concurrent rotations of one token exactly one returns true.
   */
  rotate(oldId: string, sealed: string, now: number, tokens: NewTokens & { refresh: RefreshTokenRecord }): Promise<boolean>;
  /** Revokes whole families (refresh tokens and unexpired access tokens); returns refresh tokens newly revoked. */
  revokeFamilies(familyIds: readonly string[], now: number): Promise<number>;
  /** Revokes every family issued from an authorization code (RFC 9700 §4.5.3.1). */
  revokeFromCode(codeHash: string, codeFamilyId: string, now: number): Promise<number>;
  /** Adds one access token to the revocation list (idempotent). */
  revokeAccessToken(jti: string, expiresAt: number, now: number): Promise<void>;
  isAccessTokenRevoked(jti: string): Promise<boolean>;
  /** Unexpired revoked access tokens with revokedAt >= since, oldest first, at most `limit`. */
  listRevocations(since: number, now: number, limit: number): Promise<RevocationEntry[]>;
  issuedByFamily(familyId: string): Promise<IssuedAccessTokenRecord[]>;
  /**
   * The user's live refresh-token families: the token of each that may still be used (not rotated,
   * revoked or expired), its newest issue first, at most `limit`.
   */
  liveFamiliesForUser(userId: string, now: number, limit: number): Promise<LiveRefreshFamily[]>;
  /** Records an access token issued without a refresh token or code (client_credentials), so revoking its client revokes it. */
  recordAccessToken(row: IssuedAccessTokenRecord): Promise<void>;
}

export interface ConsentRepo {
  /** Scopes remembered for this user, client and resource (space-delimited), if any. */
  find(k: ConsentKey): Promise<string | undefined>;
  /** Adds scopes to what is remembered, atomically (concurrent grants never lose each other's scopes). */
  grant(k: ConsentKey, scopes: readonly string[], now: number): Promise<void>;
  /** What the user allowed, newest first. */
  listForUser(userId: string): Promise<ConsentEntry[]>;
  /**
   * Forgets what the user allowed this client (every resource), deletes the codes not yet redeemed
   * and revokes the refresh token families and access tokens issued to this client for this user
   * only, atomically.
   */
  revokeForUser(userId: string, clientId: string, now: number): Promise<RevokedConsent>;
}

/** Second factors: TOTP, recovery codes, passkeys and the WebAuthn challenges handed out. */
export interface MfaRepo {
  /** The user's TOTP factor, confirmed or waiting for its first code. */
  totp(userId: string): Promise<TotpFactorRecord | undefined>;
  /** Stores a new unconfirmed secret (replacing an unconfirmed one); false when a confirmed factor exists. */
  startTotp(row: TotpFactorRecord): Promise<boolean>;
  /** Confirms an unconfirmed factor, recording the step of its first code; false when there was none to confirm. */
  confirmTotp(userId: string, step: number, now: number): Promise<boolean>;
  /**
   * Accepts a code of time step `step` once (conditional UPDATE … WHERE last_step < step): of any
   * number of concurrent uses of one code, or of an older one, at most one returns true.
   */
  useTotpStep(userId: string, step: number): Promise<boolean>;
  deleteTotp(userId: string): Promise<boolean>;
  /** Every TOTP secret envelope (key-encryption-key rotation). */
  totpEnvelopes(): Promise<{ userId: string; secretEnvelope: Record<string, unknown> }[]>;
  /** Replaces TOTP secret envelopes, all in one transaction. */
  setTotpEnvelopes(updates: readonly { userId: string; secretEnvelope: Record<string, unknown> }[]): Promise<void>;
  /** Replaces every recovery code of the user with these hashes, atomically. */
  replaceRecoveryCodes(userId: string, hashes: readonly string[], now: number): Promise<void>;
  /** Spends an unused code (conditional UPDATE … WHERE used_at IS NULL): true once. */
  useRecoveryCode(userId: string, hash: string, now: number): Promise<boolean>;
  unusedRecoveryCodes(userId: string): Promise<number>;
  deleteRecoveryCodes(userId: string): Promise<void>;
  /** The user's passkeys, oldest first. */
  passkeys(userId: string): Promise<PasskeyRecord[]>;
  findPasskey(id: string): Promise<PasskeyRecord | undefined>;
  /** Adds a passkey; false when its credential id is registered already (to anyone). */
  addPasskey(row: PasskeyRecord): Promise<boolean>;
  /** Records a use: the new counter, only while the stored one is still `from` (concurrent uses: one wins). */
  usePasskey(id: string, from: number, counter: number, now: number): Promise<boolean>;
  deletePasskey(userId: string, id: string): Promise<boolean>;
  /** Stores a challenge handed to a browser, sweeping expired ones. */
  addChallenge(row: WebauthnChallengeRecord, now: number): Promise<void>;
  /** Deletes and so spends a live challenge of this user and purpose: true once. */
  takeChallenge(challenge: string, userId: string, purpose: WebauthnChallengeRecord['purpose'], now: number): Promise<boolean>;
}

export interface SweepCutoffs {
  now: number;
  /** Sealed successors of tokens rotated before this are dropped. */
  sealedBefore: number;
  /** Codes that expired before this are deleted. */
  codesBefore: number;
  /** Revoked access tokens that expired before this are delisted. */
  revokedBefore: number;
}

/**
 * Everything the authorization server keeps, by aggregate. Implemented for SQLite (embedded
 * default) and PostgreSQL (several instances); protocol code sees only this interface.
 */
export interface AuthStore {
  readonly engine: 'sqlite' | 'postgres';
  users: UserRepo;
  clients: ClientRepo;
  signingKeys: SigningKeyRepo;
  sessions: SessionRepo;
  pending: PendingRequestRepo;
  codes: CodeRepo;
  tokens: TokenRepo;
  consents: ConsentRepo;
  mfa: MfaRepo;
  federatedIdentities: FederatedIdentityRepo;
  passwordResets: PasswordResetRepo;
  /** Where the audit log's chain was last anchored (checked at start and by `audit verify`). */
  auditAnchors: AuditAnchorStore;
  /** Deletes what can no longer matter: expired tokens, codes, sessions and pending requests, old seals. */
  sweep(c: SweepCutoffs): Promise<void>;
  /** Throws when the database does not answer (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
