import { hostname } from 'node:os';
import { AuditLog, deriveAuditKeys, type AuditAnchorStore } from '@stack/audit';
import type { Kek } from '@stack/crypto';
import type { AuthConfig } from '../config.ts';

export interface AuditOutputs {
  /** Where audit lines go besides the file when AUDIT_STDOUT is set (the CLI uses stderr). */
  stream: { write(s: string): unknown };
  /** Called when an anchor cannot be recorded (the database is down). */
  onError: (err: unknown) => void;
}

/**
 * Opens the authorization server's audit log (AUDIT_LOG, the AUDIT_* settings): keyed with a key
 * derived from the KEKs, anchored in the store, checked against its anchors before anything is
 * written (AuditChainError when it does not match and AUDIT_ON_BROKEN_CHAIN is refuse).
 */
export function openAuthAuditLog(config: AuthConfig, keks: readonly Kek[], anchors: AuditAnchorStore, out: AuditOutputs, keepInMemory = 0): Promise<AuditLog> {
  return AuditLog.open({
    file: config.auditLog,
    stream: config.auditStdout ? out.stream : undefined,
    keys: deriveAuditKeys(keks),
    app: 'auth-server',
    // Instances on one PostgreSQL database each keep their own file, often at the same path.
    name: config.postgres && config.auditLog ? `${hostname()}:${config.auditLog}` : config.auditLog,
    anchors,
    anchorStream: config.audit.anchorStdout ? out.stream : undefined,
    anchorIntervalMs: config.audit.anchorIntervalMs,
    maxFileBytes: config.audit.maxFileBytes,
    onBrokenChain: config.audit.onBrokenChain,
    onError: out.onError,
  }, keepInMemory);
}
