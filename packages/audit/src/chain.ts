import { createHash, createHmac, hkdfSync } from 'node:crypto';

/**
 * The keyed chain's line format. Every line is one JSON object:
 *
 *   {"seq":N,"time":"…",…event fields…,"prev":"<SHA-256 of the line before>","mac":"<HMAC-SHA256>"}
 *
 * `seq` counts lines from 0 across every file of a chain. `prev` is an unkeyed hash chain anyone can
 * recompute; `mac` is HMAC-SHA256, under a key derived from the key-encryption key, of the line's
 * exact bytes up to (not including) `,"mac"`, so it covers `seq` and `prev`: without the key a
 * changed, removed, inserted or re-hashed line cannot be given a valid MAC. The first line of every
 * file is a header (HEADER_EVENTS) naming the chain, the key id and the file before it.
 */

/** `prev` of a chain's first line. */
export const GENESIS = '0'.repeat(64);

/** The events that open a file: a new chain, the next file of a chain, a chain restarted after a recorded break. */
export const CHAIN_STARTED = 'audit.chain_started';
export const SEGMENT_STARTED = 'audit.segment_started';
export const CHAIN_BROKEN = 'audit.chain_broken';
export const HEADER_EVENTS: ReadonlySet<string> = new Set([CHAIN_STARTED, SEGMENT_STARTED, CHAIN_BROKEN]);

// HKDF info: a fixed label, so this key is used for nothing else derived from the same KEK.
const KEY_INFO = 'mcp-stack audit chain v1';

/** A MAC key for audit lines and the id of the key-encryption key it was derived from. */
export interface AuditKey {
  /** The KEK's non-secret id (as in sealed envelopes); recorded in each file's header. */
  id: string;
  key: Buffer;
}

/**
 * Derives the audit MAC keys from the key-encryption keys (HKDF-SHA256, fixed info label). The
 * derived key is held in memory only: it is never written anywhere, DATA_DIR included.
 */
export function deriveAuditKeys(keks: readonly { id: string; key: Buffer }[]): AuditKey[] {
  return keks.map((k) => ({ id: k.id, key: Buffer.from(hkdfSync('sha256', k.key, Buffer.alloc(0), KEY_INFO, 32)) }));
}

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export function hmac(key: Buffer, body: string): string {
  return createHmac('sha256', key).update(body).digest('hex');
}

/**
 * Serialises a line and appends its MAC. With `previousKey` (a header written after a KEK rotation)
 * the body also carries `previous_key_mac`, the same body under the old key: the change of key is
 * vouched for by both keys.
 */
export function sealLine(fields: Record<string, unknown>, key: AuditKey, previousKey?: AuditKey): string {
  let body = JSON.stringify(fields).slice(0, -1);
  if (previousKey) body += `,"previous_key_mac":"${hmac(previousKey.key, body)}"`;
  return `${body},"mac":"${hmac(key.key, body)}"}`;
}

const MAC_TAIL = /,"mac":"([0-9a-f]{64})"\}$/;
const PREVIOUS_KEY_MAC_TAIL = /,"previous_key_mac":"([0-9a-f]{64})"$/;

/** A parsed line of the keyed format. */
export interface ParsedLine {
  raw: string;
  /** What the MAC covers. */
  body: string;
  mac: string;
  seq: number;
  prev: string;
  fields: Record<string, unknown>;
}

/** Parses a keyed line; undefined when it is not one (not JSON, no trailing MAC, no seq or prev). */
export function parseLine(raw: string): ParsedLine | undefined {
  const m = MAC_TAIL.exec(raw);
  if (!m) return undefined;
  let fields: Record<string, unknown>;
  try {
    fields = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof fields !== 'object' || fields === null || !Number.isSafeInteger(fields.seq) || typeof fields.prev !== 'string') return undefined;
  return { raw, body: raw.slice(0, m.index), mac: m[1]!, seq: fields.seq as number, prev: fields.prev, fields };
}

/** True when the line's MAC is valid under `key`. */
export function macValid(line: ParsedLine, key: AuditKey): boolean {
  return hmac(key.key, line.body) === line.mac;
}

/** For a key-change header: true/false when it carries `previous_key_mac` and it is (in)valid under `previousKey`; undefined when absent. */
export function previousKeyMacValid(line: ParsedLine, previousKey: AuditKey): boolean | undefined {
  const m = PREVIOUS_KEY_MAC_TAIL.exec(line.body);
  if (!m) return undefined;
  return hmac(previousKey.key, line.body.slice(0, m.index)) === m[1];
}

/** The header fields of a file's first line, when it is a header. */
export interface SegmentHeader {
  event: string;
  chain: string;
  kid: string;
  app: string;
  log: string;
  seq: number;
  previousKid?: string | undefined;
  prevFile?: string | undefined;
}

export function headerOf(line: ParsedLine | undefined): SegmentHeader | undefined {
  const f = line?.fields;
  if (!line || !f || typeof f.event !== 'string' || !HEADER_EVENTS.has(f.event)) return undefined;
  if (typeof f.chain !== 'string' || typeof f.kid !== 'string') return undefined;
  return {
    event: f.event,
    chain: f.chain,
    kid: f.kid,
    app: typeof f.app === 'string' ? f.app : '',
    log: typeof f.log === 'string' ? f.log : '',
    seq: line.seq,
    previousKid: typeof f.previous_kid === 'string' ? f.previous_kid : undefined,
    prevFile: typeof f.prev_file === 'string' ? f.prev_file : undefined,
  };
}

/** A line of the old format (before keyed chains): `prev` but no `seq` and no `mac`. */
export function isLegacyLine(raw: string): boolean {
  try {
    const f = JSON.parse(raw) as Record<string, unknown>;
    return typeof f === 'object' && f !== null && typeof f.prev === 'string' && f.seq === undefined && f.mac === undefined;
  } catch {
    return false;
  }
}
