import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { invalidToken, type Role } from '@stack/oauth';
import { defaultRoleScopes, scopesOfRole, type RoleScopes } from './access-token-claims.ts';
import { freezeIdentity, type Identity } from './identity.ts';

export interface ApiKeyInfo {
  id: string;
  name: string;
  role: Role;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

/** A key as stored: its secret only as a salted hash. */
export interface ApiKeyRow extends ApiKeyInfo {
  salt: string;
  hash: string;
}

/** Where key rows are kept: the MCP server's database, SQLite or PostgreSQL (apps/mcp-server/src/store). */
export interface ApiKeyRecords {
  insert(row: ApiKeyRow): Promise<void>;
  get(id: string): Promise<ApiKeyRow | undefined>;
  /** Sets revokedAt on a key not yet revoked, in one statement; whether it did. */
  revoke(id: string, at: number): Promise<boolean>;
  /** Every key, oldest first, without salt and hash. */
  list(): Promise<ApiKeyInfo[]>;
}

export interface ApiKeyStore {
  /** Creates a key; the returned `key` is shown once and never stored. */
  create(input: { name: string; role: Role; expiresAt?: number }): Promise<{ id: string; key: string }>;
  /** Verifies a presented key; every failure is an `invalid_token` OAuthError (401). */
  verify(key: string): Promise<Identity>;
  /** Revokes a key; false when there is no such key or it was already revoked. */
  revoke(id: string): Promise<boolean>;
  list(): Promise<ApiKeyInfo[]>;
}

const PREFIX = 'mcpk_';

/**
 * Whether a presented credential is meant as one of our API keys: it starts with their prefix. A
 * JWT never does (its first segment is base64url JSON, `eyJ…`), so a server accepting both tells
 * them apart by this alone and never checks a key as a JWT or a JWT as a key.
 */
export const isApiKeyShaped = (value: string): boolean => value.startsWith(PREFIX);
// mcpk_<12-char id>_<43-char secret>; both parts are base64url (which may itself contain '_'),
// so the format is parsed by fixed lengths rather than by splitting on '_'.
const KEY_FORMAT = /^mcpk_([A-Za-z0-9_-]{12})_([A-Za-z0-9_-]{43})$/;
const MAX_NAME_LENGTH = 100;

/**
 * The secret is 32 random bytes (256 bits), so guessing it is infeasible however fast the hash:
 * a salted HMAC-SHA256 is enough, and costs microseconds per request where argon2 would cost
 * tens of milliseconds of CPU. The salt keeps equal secrets from producing equal stored values.
 */
function digest(salt: string, secret: string): Buffer {
  return createHmac('sha256', Buffer.from(salt, 'base64url')).update(secret).digest();
}

/**
 * API keys for the MCP server, stored as salted hashes in its control database. Every check reads
 * the row (no cache), so a key created or revoked by one instance is accepted or refused by every
 * instance sharing the database from its next request on.
 */
export function createApiKeyStore(db: ApiKeyRecords, now: () => number = Date.now, roleScopes: RoleScopes = defaultRoleScopes): ApiKeyStore {
  return {
    async create({ name, role, expiresAt }) {
      if (typeof name !== 'string' || name.trim() === '' || name.length > MAX_NAME_LENGTH || /\p{Cc}/u.test(name)) {
        throw new TypeError(`name must be 1-${MAX_NAME_LENGTH} printable characters`);
      }
      if (typeof role !== 'string' || !roleScopes(role)) throw new TypeError('role is not one the stack file declares');
      if (expiresAt !== undefined && !(Number.isFinite(expiresAt) && expiresAt > now())) {
        throw new TypeError('expiresAt must be a time in the future (ms since the epoch)');
      }
      // 12 hex characters: a public lookup id (the secret carries the entropy). Hex, not base64url,
      // so an id never starts with '-' and is never read as an option by a CLI (`--id <id>`).
      const id = randomBytes(6).toString('hex');
      const secret = randomBytes(32).toString('base64url'); // 43 characters
      const salt = randomBytes(16).toString('base64url');
      await db.insert({
        id,
        name,
        role,
        salt,
        hash: digest(salt, secret).toString('base64url'),
        createdAt: now(),
        expiresAt: expiresAt ?? null,
        revokedAt: null,
      });
      return { id, key: `${PREFIX}${id}_${secret}` };
    },

    async verify(key) {
      const m = typeof key === 'string' ? KEY_FORMAT.exec(key) : null;
      if (!m) throw invalidToken('api key is malformed');
      const [, id, secret] = m as unknown as [string, string, string];
      const row = await db.get(id);
      // The id is not secret (it names the key), so an unknown id may fail faster than a wrong secret.
      if (!row) throw invalidToken('api key is not valid');
      const stored = Buffer.from(row.hash, 'base64url');
      const presented = digest(row.salt, secret);
      if (stored.length !== presented.length || !timingSafeEqual(stored, presented)) {
        throw invalidToken('api key is not valid');
      }
      if (row.revokedAt !== null) throw invalidToken('api key has been revoked');
      if (row.expiresAt !== null && row.expiresAt <= now()) throw invalidToken('api key has expired');
      return freezeIdentity({
        kind: 'apikey',
        subject: `apikey:${row.id}`,
        role: row.role,
        scopes: [...scopesOfRole(roleScopes, row.role, 'api key')],
        tokenId: row.id,
      });
    },

    revoke(id) {
      return db.revoke(id, now());
    },

    list() {
      return db.list();
    },
  };
}
