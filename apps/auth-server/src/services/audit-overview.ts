import type { AuditEntry } from './audit-files.ts';
import { SIGN_IN } from './metrics.ts';

/*
 * The admin overview's numbers, counted from audit lines (newest first, as audit-files.ts reads
 * them): sign-ins per hour from the authorization server's log, tool calls per hour and the most
 * denied tools from the MCP server's decisions. Plain functions over lines, so they are tested on
 * fixture lines.
 */

export const HOUR_MS = 3_600_000;
/** Hours shown: the current one and the 23 before it. */
export const HOURS = 24;
/** Tools listed among the most denied. */
export const TOP_TOOLS = 10;

export type SignInHour = {
  /** Start of the hour, ms since the epoch (UTC hours). */
  start: number;
  success: number;
  failure: number;
};

export type ToolCallHour = {
  start: number;
  allowed: number;
  denied: number;
  rateLimited: number;
};

/** The start of each of the HOURS hours ending with the one `now` is in, oldest first. */
export function hourStarts(now: number): number[] {
  const current = Math.floor(now / HOUR_MS) * HOUR_MS;
  return Array.from({ length: HOURS }, (_, i) => current - (HOURS - 1 - i) * HOUR_MS);
}

/** Where a line falls among `starts` (hourStarts): its index, or -1 outside them. */
function hourIndex(starts: readonly number[], time: number): number {
  if (!Number.isFinite(time) || time < starts[0]!) return -1;
  const i = Math.floor((time - starts[0]!) / HOUR_MS);
  return i < starts.length ? i : -1;
}

/** Lines older than the window end the count (logs are appended in time order). */
function* inWindow(entries: Iterable<AuditEntry>, first: number): Generator<AuditEntry> {
  for (const e of entries) {
    if (Number.isFinite(e.time) && e.time < first) return;
    yield e;
  }
}

/** Sign-in successes and failures per hour (the events metrics.ts counts as sign-ins). */
export function signInsPerHour(entries: Iterable<AuditEntry>, now: number): SignInHour[] {
  const starts = hourStarts(now);
  const hours = starts.map((start) => ({ start, success: 0, failure: 0 }));
  for (const e of inWindow(entries, starts[0]!)) {
    const outcome = typeof e.fields.event === 'string' ? SIGN_IN[e.fields.event] : undefined;
    const i = hourIndex(starts, e.time);
    if (outcome && i >= 0) hours[i]![outcome]++;
  }
  return hours;
}

export interface ToolCalls {
  hours: ToolCallHour[];
  /** The most denied tools, most first (ties by name). */
  topDenied: { tool: string; count: number }[];
}

// A line per decision of the MCP server (apps/mcp-server/src/pipeline/audit.ts).
const isToolCall = (f: Record<string, unknown>) => f.event === 'mcp.decision' && f.method === 'tools/call';

/** tools/call decisions per hour (allowed, denied by policy, rate-limited) and the tools denied most. */
export function toolCallsPerHour(entries: Iterable<AuditEntry>, now: number): ToolCalls {
  const starts = hourStarts(now);
  const hours = starts.map((start) => ({ start, allowed: 0, denied: 0, rateLimited: 0 }));
  const denied = new Map<string, number>();
  for (const e of inWindow(entries, starts[0]!)) {
    const i = hourIndex(starts, e.time);
    if (i < 0 || !isToolCall(e.fields)) continue;
    const h = hours[i]!;
    if (e.fields.decision === 'ALLOWED') h.allowed++;
    else if (e.fields.decision === 'RATE_LIMITED') h.rateLimited++;
    else if (e.fields.decision === 'DENIED') {
      h.denied++;
      const tool = typeof e.fields.tool === 'string' ? e.fields.tool : '(none)';
      // Bounded: tool names come from callers; past this many distinct names the rest are counted together.
      const key = denied.has(tool) || denied.size < 1000 ? tool : '(other tools)';
      denied.set(key, (denied.get(key) ?? 0) + 1);
    }
  }
  const topDenied = [...denied].map(([tool, count]) => ({ tool, count }))
    .sort((a, b) => b.count - a.count || a.tool.localeCompare(b.tool))
    .slice(0, TOP_TOOLS);
  return { hours, topDenied };
}
