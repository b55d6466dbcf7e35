import { sqliteTable, text, integer } from 'drizzle-orm/sqlite-core';

// The MCP server's own control database (separate from the auth server's and from the demo data).

export const apiKeys = sqliteTable('api_keys', {
  /** Public key id, embedded in the key itself so lookups need no scan. */
  id: text().primaryKey(),
  name: text().notNull(),
  /** A role the stack file declares (checked where it is set and where it is used; the file may change). */
  role: text().notNull(),
  salt: text().notNull(),
  hash: text().notNull(),
  createdAt: integer().notNull(),
  expiresAt: integer(),
  revokedAt: integer(),
});

export const secrets = sqliteTable('secrets', {
  name: text().primaryKey(),
  /** JSON envelope: AES-256-GCM data key per secret, wrapped by the key-encryption key. */
  envelope: text({ mode: 'json' }).$type<Record<string, unknown>>().notNull(),
  updatedAt: integer().notNull(),
});

/** Where each audit chain of the MCP server stood when last anchored (as in the auth schema). */
export { auditAnchors } from '../audit-anchors.ts';
