import { z } from 'zod';
import { envBool } from './index.ts';

const positiveInt = z.coerce.number().int().positive();

/**
 * The audit chain's settings, read by both apps under the same names (spread into each app's
 * schema). A function: index.ts re-exports this module, so envBool is only defined once it returns.
 */
export const auditSettings = () => ({
  /** A log file is moved aside (the chain continues in a new one) before it grows past this. */
  AUDIT_MAX_FILE_BYTES: positiveInt.min(64 * 1024).max(1024 ** 3).default(64 * 1024 * 1024),
  /** The chain's head is anchored in the database this often while lines are written (and every 100 lines, and on shutdown). */
  AUDIT_ANCHOR_SECONDS: positiveInt.max(3600).default(10),
  /** Also print each anchor as a JSON line on stdout, for a log collector to keep apart from the server. */
  AUDIT_ANCHOR_STDOUT: envBool.default(false),
  /** refuse: a log that does not match its anchors stops the start; record: a new chain starts with a line recording the break. */
  AUDIT_ON_BROKEN_CHAIN: z.enum(['refuse', 'record']).optional(),
  /** Unauthenticated failures per address are summarised once per this interval. */
  AUDIT_FAILURE_INTERVAL_SECONDS: positiveInt.max(3600).default(60),
});

interface AuditInput {
  NODE_ENV: string;
  AUDIT_MAX_FILE_BYTES: number;
  AUDIT_ANCHOR_SECONDS: number;
  AUDIT_ANCHOR_STDOUT: boolean;
  AUDIT_ON_BROKEN_CHAIN?: 'refuse' | 'record' | undefined;
  AUDIT_FAILURE_INTERVAL_SECONDS: number;
}

/** The validated settings as the apps use them; a broken chain is refused by default in production only. */
export function auditChainConfig(c: AuditInput) {
  return {
    maxFileBytes: c.AUDIT_MAX_FILE_BYTES,
    anchorIntervalMs: c.AUDIT_ANCHOR_SECONDS * 1000,
    anchorStdout: c.AUDIT_ANCHOR_STDOUT,
    onBrokenChain: c.AUDIT_ON_BROKEN_CHAIN ?? (c.NODE_ENV === 'production' ? 'refuse' as const : 'record' as const),
    failureIntervalMs: c.AUDIT_FAILURE_INTERVAL_SECONDS * 1000,
  };
}
