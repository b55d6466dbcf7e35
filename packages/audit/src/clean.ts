/** One audit event. Never put secrets or token values here: `redact` and `escapeControl` are applied anyway. */
export type AuditEvent = Record<string, string | number | boolean | null | undefined | string[]>;

// C0 and C1 controls, line and paragraph separators, and the bidirectional-text controls (marks
// U+061C, U+200E/F; embeddings and overrides U+202A–E; isolates U+2066–9), which reorder what a
// terminal or viewer shows: a client name holding U+202E would display the rest of the line reversed.
// eslint-disable-next-line no-control-regex -- controls are what this pattern removes
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/** Escapes control and bidirectional-text characters so a value cannot forge a log line, a terminal sequence or its display order. */
export function escapeControl(s: string): string {
  return s.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// Keys whose values are secrets are never written, whatever the caller passes.
const SECRET_KEYS = /pass(word)?|secret|token|authorization|cookie|code_verifier|^code$|api_?key|credential/i;

/** Fields the chain itself writes; an event field with one of these names is renamed, never overwrites them. */
export const RESERVED_FIELDS = new Set(['seq', 'time', 'prev', 'mac', 'previous_key_mac']);

/** Longest value written (characters after escaping); longer ones end in `…`. */
export const MAX_VALUE_CHARS = 200;
const MAX_ITEMS = 32;
/** The event's fields together stay under this many bytes, so a line with its chain fields is about 1 KB. */
export const MAX_FIELDS_BYTES = 800;
const MIN_CUT = 16;

/** Escapes `s` and cuts it to at most `max` characters without splitting an escape sequence. */
export function capEscaped(s: string, max: number): string {
  const e = escapeControl(s);
  if (e.length <= max) return e;
  let cut = max - 1;
  // Never leave half of a \uXXXX escape at the end.
  const slash = e.lastIndexOf('\\u', cut);
  if (slash >= 0 && slash + 6 > cut) cut = slash;
  return `${e.slice(0, cut)}…`;
}

function byteSize(out: Record<string, unknown>): number {
  return Buffer.byteLength(JSON.stringify(out));
}

/**
 * Makes an event safe to write: secret-named keys redacted, control and bidi characters escaped,
 * each value at most MAX_VALUE_CHARS, at most MAX_ITEMS list items, and the whole under
 * MAX_FIELDS_BYTES (the longest values are halved until it fits).
 */
export function cleanEvent(event: AuditEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [rawKey, v] of Object.entries(event)) {
    if (v === undefined) continue;
    const k = RESERVED_FIELDS.has(rawKey) ? `field_${rawKey}` : capEscaped(rawKey, 64);
    if (SECRET_KEYS.test(rawKey)) { out[k] = '[redacted]'; continue; }
    if (typeof v === 'string') out[k] = capEscaped(v, MAX_VALUE_CHARS);
    else if (Array.isArray(v)) {
      const items = v.slice(0, MAX_ITEMS).map((x) => capEscaped(String(x), MAX_VALUE_CHARS));
      out[k] = v.length > MAX_ITEMS ? [...items, `…(+${v.length - MAX_ITEMS})`] : items;
    } else out[k] = v;
  }
  // Bounded: every round halves the longest value, and stops when nothing can shrink further.
  while (byteSize(out) > MAX_FIELDS_BYTES) {
    let longest: string | undefined;
    let size = 0;
    for (const [k, v] of Object.entries(out)) {
      const n = JSON.stringify(v).length;
      if (n > size && (typeof v === 'string' ? v.length > MIN_CUT : Array.isArray(v) && v.length > 1)) { longest = k; size = n; }
    }
    if (longest === undefined) break;
    const v = out[longest];
    if (typeof v === 'string') out[longest] = capEscaped(v.replace(/…$/, ''), Math.max(MIN_CUT, Math.floor(v.length / 2)));
    else if (Array.isArray(v)) {
      // Always strictly shorter: half the items minus one, plus a marker counting what was dropped.
      const keep = Math.max(0, Math.floor(v.length / 2) - 1);
      out[longest] = [...(v as unknown[]).slice(0, keep), `…(-${v.length - keep})`];
    }
  }
  return out;
}
