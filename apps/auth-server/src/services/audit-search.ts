import type { AuditEntry } from './audit-files.ts';

/*
 * The admin console's audit page: one page of an audit log's lines, newest first, that match the
 * filters. Pages go back by seq (`before`), so lines written meanwhile do not shift them; what one
 * request reads is bounded by the caller's byte budget (audit-files.ts).
 */

/** What a line's decision counts as, across both apps' spellings (allow/deny, ALLOWED/DENIED/…). */
export const DECISIONS = ['allow', 'deny', 'rate_limited', 'error'] as const;
export type DecisionFilter = (typeof DECISIONS)[number];

export interface AuditFilter {
  /** Lower-case terms, any of which a who-field (user, identity, email, client, by, operator) must contain. */
  who?: readonly string[] | undefined;
  /** Lower-case; the line's tool (or prompt) must contain it. */
  tool?: string | undefined;
  decision?: DecisionFilter | undefined;
  /** ms, inclusive */
  from?: number | undefined;
  /** ms, exclusive */
  to?: number | undefined;
  /** Only lines with a seq below this one (the next page). */
  before?: number | undefined;
}

export interface AuditRow {
  seq: number | undefined;
  time: string;
  event: string;
  decision: string;
  who: string;
  client: string;
  tool: string;
  /** The remaining fields, key=value, for the details line. */
  detail: string;
}

export interface AuditPage {
  rows: AuditRow[];
  /** seq to pass as `before` for the next (older) page, when there may be one. */
  next: number | undefined;
}

const WHO_FIELDS = ['user', 'identity', 'email', 'client', 'by', 'operator'] as const;
const SHOWN = new Set(['seq', 'time', 'event', 'decision', 'prev', 'mac', 'previous_key_mac', 'tool', 'prompt', 'client', 'user', 'identity', 'email']);
const MAX_DETAIL = 600;

const str = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');

/** The line's decision as a filter value, or undefined for lines without one. */
export function decisionOf(f: Record<string, unknown>): DecisionFilter | undefined {
  const d = str(f.decision).toLowerCase();
  if (d === 'rate_limited' || str(f.event).endsWith('.rate_limited')) return 'rate_limited';
  if (d === 'allow' || d === 'allowed') return 'allow';
  if (d === 'deny' || d === 'denied' || d === 'auth_failed' || d === 'invalid_input') return 'deny';
  if (d === 'error') return 'error';
  return undefined;
}

export function matches(e: AuditEntry, f: AuditFilter): boolean {
  if (f.before !== undefined && (e.seq === undefined || e.seq >= f.before)) return false;
  if (f.from !== undefined && !(e.time >= f.from)) return false;
  if (f.to !== undefined && !(e.time < f.to)) return false;
  if (f.decision && decisionOf(e.fields) !== f.decision) return false;
  if (f.tool) {
    const tool = (str(e.fields.tool) || str(e.fields.prompt)).toLowerCase();
    if (!tool.includes(f.tool)) return false;
  }
  if (f.who && f.who.length > 0) {
    const values = WHO_FIELDS.map((k) => str(e.fields[k]).toLowerCase()).filter(Boolean);
    if (!f.who.some((term) => values.some((v) => v.includes(term)))) return false;
  }
  return true;
}

function rowOf(e: AuditEntry): AuditRow {
  const f = e.fields;
  const detail = Object.entries(f).filter(([k]) => !SHOWN.has(k))
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.map(str).join(',') : str(v)}`).join(' ');
  return {
    seq: e.seq,
    time: Number.isFinite(e.time) ? new Date(e.time).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : str(f.time),
    event: str(f.event),
    decision: str(f.decision),
    who: [str(f.email), str(f.user), str(f.identity)].filter(Boolean).join(' '),
    client: str(f.client),
    tool: str(f.tool) || str(f.prompt),
    detail: detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL - 1)}…` : detail,
  };
}

/**
 * Up to `size` matching lines of `entries` (newest first). Lines are in time order, so reading
 * stops at the first line older than `from`.
 */
export function auditPage(entries: Iterable<AuditEntry>, filter: AuditFilter, size: number): AuditPage {
  const rows: AuditRow[] = [];
  for (const e of entries) {
    if (filter.from !== undefined && Number.isFinite(e.time) && e.time < filter.from) return { rows, next: undefined };
    if (!matches(e, filter)) continue;
    if (rows.length === size) return { rows, next: rows.at(-1)!.seq };
    rows.push(rowOf(e));
  }
  return { rows, next: undefined };
}
