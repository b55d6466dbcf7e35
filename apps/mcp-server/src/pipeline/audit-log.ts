import { AuditLog, deriveAuditKeys, type AuditAnchorStore } from '@stack/audit';
import { loadKeks, type Kek } from '@stack/crypto';
import { hostname } from 'node:os';
import type { McpConfig } from '../config.ts';

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
 * How the anchors name this instance's log. Each instance writes its own audit file, so its own
 * chain: on a database several hosts share (PostgreSQL) the name is host:path, so an instance
 * finds its own anchors and never another's (instances on one host need distinct MCP_AUDIT_LOG
 * paths, which separate DATA_DIRs give). The admin CLI on the same host uses the same name and so
 * continues the same chain.
 */
export const mcpAuditLogName = (config: McpConfig): string | undefined =>
  (config.postgres && config.auditLog ? `${hostname()}:${config.auditLog}` : config.auditLog);

/**
 * Opens the MCP server's audit log (MCP_AUDIT_LOG, the AUDIT_* settings): keyed with a key derived
 * from the KEKs, anchored in the app's store, checked against its anchors before anything is written
 * (AuditChainError when it does not match and AUDIT_ON_BROKEN_CHAIN is refuse).
 */
export function openMcpAuditLog(config: McpConfig, anchors: AuditAnchorStore, out: AuditOutputs): Promise<AuditLog> {
  return AuditLog.open({
    file: config.auditLog,
    name: mcpAuditLogName(config),
    stream: config.auditStdout ? out.stream : undefined,
    keys: deriveAuditKeys(mcpKeks(config)),
    app: 'mcp-server',
    anchors,
    anchorStream: config.audit.anchorStdout ? out.stream : undefined,
    anchorIntervalMs: config.audit.anchorIntervalMs,
    maxFileBytes: config.audit.maxFileBytes,
    onBrokenChain: config.audit.onBrokenChain,
    onError: out.onError,
  });
}
