import { AuditLog, deriveAuditKeys, type AuditAnchorStore } from '@stack/audit';
import { loadKeks, type Kek } from '@stack/crypto';
import { sqliteAuditAnchors, type McpDb } from '@stack/db';
import type { McpConfig } from '../config.ts';

/** Anchors of the MCP server's audit chains, in its control database (mcp.db). */
export const mcpAuditAnchors = (db: McpDb): AuditAnchorStore => sqliteAuditAnchors(db);

/** The key-encryption keys: KEY_ENCRYPTION_KEY, then KEY_ENCRYPTION_KEY_PREVIOUS (a development key in DATA_DIR outside production). */
export function mcpKeks(config: McpConfig): Kek[] {
  return loadKeks({ key: config.keyEncryptionKey, previous: config.previousKeyEncryptionKeys, dataDir: config.dataDir, production: config.env === 'production' });
}

export interface AuditOutputs {
  /** Where audit lines go besides the file when MCP_AUDIT_STDOUT is set, and anchors with AUDIT_ANCHOR_STDOUT. */
  stream: { write(s: string): unknown };
  /** Called when an anchor cannot be recorded. */
  onError: (err: unknown) => void;
}

/**
 * Opens the MCP server's audit log (MCP_AUDIT_LOG, the AUDIT_* settings): keyed with a key derived
 * from the KEKs, anchored in mcp.db, checked against its anchors before anything is written
 * (AuditChainError when it does not match and AUDIT_ON_BROKEN_CHAIN is refuse).
 */
export function openMcpAuditLog(config: McpConfig, db: McpDb, out: AuditOutputs): Promise<AuditLog> {
  return AuditLog.open({
    file: config.auditLog,
    stream: config.auditStdout ? out.stream : undefined,
    keys: deriveAuditKeys(mcpKeks(config)),
    app: 'mcp-server',
    anchors: mcpAuditAnchors(db),
    anchorStream: config.audit.anchorStdout ? out.stream : undefined,
    anchorIntervalMs: config.audit.anchorIntervalMs,
    maxFileBytes: config.audit.maxFileBytes,
    onBrokenChain: config.audit.onBrokenChain,
    onError: out.onError,
  });
}
