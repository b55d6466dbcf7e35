import { pgTable, text, bigint, jsonb } from 'drizzle-orm/pg-core';
import { pgAnchorTable } from '../pg-anchor-table.ts';

// The PostgreSQL mirror of ./schema.ts (SQLite): the MCP server's own state, for several instances
// behind a load balancer. Same columns; times are Unix milliseconds in bigint columns read as JS
// numbers, JSON is jsonb. The tables are prefixed `mcp_` (and kept in a schema of their own,
// MCP_DATABASE_SCHEMA) so that they can share one database, even one schema, with the
// authorization server's, which has an `audit_anchors` table too. Keep the two files in step.

const ms = () => bigint({ mode: 'number' });

export const apiKeys = pgTable('mcp_api_keys', {
  id: text().primaryKey(),
  name: text().notNull(),
  role: text().notNull(),
  salt: text().notNull(),
  hash: text().notNull(),
  createdAt: ms().notNull(),
  expiresAt: ms(),
  revokedAt: ms(),
});

export const secrets = pgTable('mcp_secrets', {
  name: text().primaryKey(),
  envelope: jsonb().$type<Record<string, unknown>>().notNull(),
  updatedAt: ms().notNull(),
});

/**
 * One row per audit chain. Each instance writes its own audit file and so its own chain; the log
 * is named host:path (see the MCP app's audit-log.ts), so instances never read each other's anchors.
 */
export const auditAnchors = pgAnchorTable('mcp_audit_anchors');
