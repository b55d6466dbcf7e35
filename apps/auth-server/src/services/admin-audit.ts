import type { AuditAnchorStore, AuditKey } from '@stack/audit';
import { AuditLogUnreadable, budget, entriesNewestFirst, type AuditEntry } from './audit-files.ts';
import { createChainCheck, type ChainCheck } from './audit-check.ts';
import { signInsPerHour, toolCallsPerHour, type SignInHour, type ToolCalls } from './audit-overview.ts';
import { auditPage, type AuditFilter, type AuditPage } from './audit-search.ts';

/*
 * What the admin console reads of the audit logs: the authorization server's own (AUDIT_LOG) and
 * the MCP server's decisions (ADMIN_MCP_AUDIT_LOG: a file on this host or a shared volume). Every
 * read is bounded in bytes; the overview is kept OVERVIEW_TTL_MS so reloading the page does not
 * read the logs again. Created once per app (app.ts).
 */

export type AuditSource = 'auth' | 'mcp';

/** The newest bytes of each log the overview reads (its last 24 h, unless they are more). */
export const OVERVIEW_MAX_BYTES = 32 * 1024 * 1024;
export const OVERVIEW_TTL_MS = 30_000;
/** The bytes one audit page request may read (older lines: narrow the time range). */
export const PAGE_MAX_BYTES = 8 * 1024 * 1024;
/** Larger chains are left to `npm run admin -- audit verify`. */
export const VERIFY_MAX_BYTES = 256 * 1024 * 1024;

/** A log's numbers, or why there are none (never zeros for a log that could not be read). */
export type FromLog<T> =
  | { ok: true; data: T; /** The byte cap was reached: older hours are incomplete. */ partial: boolean }
  | { ok: false; reason: string };

export interface Overview {
  at: number;
  signIns: FromLog<SignInHour[]>;
  toolCalls: FromLog<ToolCalls>;
}

export interface AdminAuditOptions {
  /** config.auditLog: undefined when AUDIT_LOG=off. */
  authLog: string | undefined;
  /** config.mcpAuditLog: undefined when ADMIN_MCP_AUDIT_LOG=off. */
  mcpLog: string | undefined;
  /** The audit keys derived from this server's KEKs (the MCP server's too when they share them). */
  keys: readonly AuditKey[];
  /** This server's anchors (the MCP server's are in its own database). */
  anchors: AuditAnchorStore;
  now: () => number;
}

export interface AdminAudit {
  overview(): Overview;
  page(source: AuditSource, filter: AuditFilter, size: number): FromLog<AuditPage>;
  /** The chain check of a log, undefined when the log is off. */
  check(source: AuditSource): ChainCheck | undefined;
}

const OFF: Record<AuditSource, string> = {
  auth: 'The audit log is off (AUDIT_LOG=off).',
  mcp: 'The MCP server\'s audit log is not read here (ADMIN_MCP_AUDIT_LOG=off).',
};

export function createAdminAudit(o: AdminAuditOptions): AdminAudit {
  const files: Record<AuditSource, string | undefined> = { auth: o.authLog, mcp: o.mcpLog };
  const read = <T>(source: AuditSource, maxBytes: number, f: (entries: Iterable<AuditEntry>) => T): FromLog<T> => {
    const file = files[source];
    if (!file) return { ok: false, reason: OFF[source] };
    const limit = budget(maxBytes);
    try {
      return { ok: true, data: f(entriesNewestFirst(file, limit)), partial: limit.exhausted };
    } catch (err) {
      if (!(err instanceof AuditLogUnreadable)) throw err;
      return {
        ok: false,
        reason: `${source === 'mcp' ? 'The MCP server\'s' : 'The'} audit log ${file} cannot be read from this server: ${err.message}.`
          + (source === 'mcp' ? ' When the MCP server runs on another host, set ADMIN_MCP_AUDIT_LOG to a copy or shared volume of its log, or off.' : ''),
      };
    }
  };
  let cached: Overview | undefined;
  const checks: Record<AuditSource, ChainCheck | undefined> = {
    auth: o.authLog ? createChainCheck({ file: o.authLog, keys: o.keys, anchors: o.anchors, maxBytes: VERIFY_MAX_BYTES, now: o.now }) : undefined,
    mcp: o.mcpLog ? createChainCheck({ file: o.mcpLog, keys: o.keys, maxBytes: VERIFY_MAX_BYTES, now: o.now }) : undefined,
  };
  return {
    overview() {
      const now = o.now();
      if (cached && now - cached.at < OVERVIEW_TTL_MS && now >= cached.at) return cached;
      cached = {
        at: now,
        signIns: read('auth', OVERVIEW_MAX_BYTES, (e) => signInsPerHour(e, now)),
        toolCalls: read('mcp', OVERVIEW_MAX_BYTES, (e) => toolCallsPerHour(e, now)),
      };
      return cached;
    },
    page: (source, filter, size) => read(source, PAGE_MAX_BYTES, (e) => auditPage(e, filter, size)),
    check: (source) => checks[source],
  };
}
