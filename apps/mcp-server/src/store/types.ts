import type { AuditAnchorStore } from '@stack/audit';
import type { ApiKeyRecords } from '@stack/mcp-auth';

/** A secret as stored: its value only inside the envelope (secrets/store.ts seals and opens it). */
export interface SecretRow {
  name: string;
  envelope: Record<string, unknown>;
  updatedAt: number;
}

/** Where the envelope-encrypted secrets are kept. */
export interface SecretRecords {
  get(name: string): Promise<SecretRow | undefined>;
  /** Inserts or replaces the secret `row.name`. */
  put(row: SecretRow): Promise<void>;
  /** Names and update times, by name. */
  list(): Promise<{ name: string; updatedAt: number }[]>;
  /** Whether there was a secret to delete. */
  delete(name: string): Promise<boolean>;
  /**
   * Replaces envelopes in one transaction, all or nothing: `next` is called for each row (under a
   * row lock on PostgreSQL, so two rotations do not interleave) and gives its new envelope, or
   * undefined to leave it. Returns how many rows changed; a throw from `next` changes none.
   */
  rewrap(next: (row: SecretRow) => Record<string, unknown> | undefined): Promise<number>;
}

/**
 * The MCP server's own state (API keys, secrets, audit anchors): SQLite on one host, or with
 * DATABASE_URL PostgreSQL, shared by every instance behind a load balancer. The demo database the
 * built-in SQL tools serve is not part of it: that is the tools' data, always a local SQLite file.
 */
export interface McpStore {
  engine: 'sqlite' | 'postgres';
  apiKeys: ApiKeyRecords;
  secrets: SecretRecords;
  auditAnchors: AuditAnchorStore;
  /** One round trip to the database (readiness); throws StoreUnavailableError when PostgreSQL does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
