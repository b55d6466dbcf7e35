import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, existsSync, openSync, fstatSync, readSync, closeSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** One audit event. Never put secrets or token values here: `redact` and `escapeControl` are applied anyway. */
export type AuditEvent = Record<string, string | number | boolean | null | undefined | string[]>;

/** Where audit lines go. */
export interface AuditSink {
  write(event: AuditEvent): void;
}

const GENESIS = '0'.repeat(64);

// Keys whose values are secrets are never written, whatever the caller passes.
const SECRET_KEYS = /pass(word)?|secret|token|authorization|cookie|code_verifier|^code$|api_?key|credential/i;

/** Escapes control characters (CR, LF, ESC, …) so a value cannot forge a log line or a terminal sequence. */
export function escapeControl(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function clean(event: AuditEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(event)) {
    if (v === undefined) continue;
    if (SECRET_KEYS.test(k)) { out[k] = '[redacted]'; continue; }
    if (typeof v === 'string') out[k] = escapeControl(v.length > 1000 ? `${v.slice(0, 1000)}…` : v);
    else if (Array.isArray(v)) out[k] = v.map((x) => escapeControl(String(x)));
    else out[k] = v;
  }
  return out;
}

function lineHash(line: string): string {
  return createHash('sha256').update(line).digest('hex');
}

// How often the path is checked for having been renamed or removed (log rotation): the file is
// appended to through a descriptor kept open, which would otherwise follow the old file for ever.
const REOPEN_CHECK_MS = 1000;

// Descriptors of logs that were dropped without close() are closed when they are collected.
const unclosed = new FinalizationRegistry<number>((fd) => {
  try { closeSync(fd); } catch { /* already closed */ }
});

function lastLineHash(path: string): string {
  if (!existsSync(path)) return GENESIS;
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return GENESIS;
    // Read the tail only: audit logs grow without bound.
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n').filter(Boolean);
    const last = lines[lines.length - 1];
    return last ? lineHash(last) : GENESIS;
  } finally {
    closeSync(fd);
  }
}

export interface AuditLogOptions {
  /** Append hash-chained JSON lines to this file. */
  file?: string | undefined;
  /** Also write each line to this stream (e.g. process.stdout). */
  stream?: { write(s: string): unknown } | undefined;
  now?: () => Date;
}

/**
 * A hash-chained JSON-lines audit log: each line carries `prev`, the SHA-256 of the previous line,
 * so `verifyAuditLog` finds the first line changed, removed or inserted.
 */
export class AuditLog implements AuditSink {
  private prev: string;
  /** File size after our last append; a different size means another process (the CLI) wrote. */
  private size = -1;
  /** Open in append mode (O_APPEND: every write lands at the end, whoever else appends). */
  private fd = -1;
  private openedAt = 0;
  private readonly opts: AuditLogOptions;
  /** Lines written since start (for tests and metrics). */
  readonly lines: string[] = [];
  private readonly keep: number;

  constructor(opts: AuditLogOptions = {}, keepInMemory = 0) {
    this.opts = opts;
    this.keep = keepInMemory;
    this.prev = GENESIS;
    if (opts.file) {
      mkdirSync(dirname(opts.file), { recursive: true });
      this.open(opts.file);
    }
  }

  private open(file: string): void {
    if (this.fd >= 0) {
      unclosed.unregister(this);
      closeSync(this.fd);
    }
    this.fd = openSync(file, 'a', 0o600);
    unclosed.register(this, this.fd, this);
    this.openedAt = Date.now();
    this.prev = lastLineHash(file);
    this.size = fstatSync(this.fd).size;
  }

  /** Reopens when the path no longer names the file we hold open (renamed or removed). */
  private reopenIfReplaced(file: string): void {
    const now = Date.now();
    if (now - this.openedAt < REOPEN_CHECK_MS) return;
    this.openedAt = now;
    const onDisk = statSync(file, { throwIfNoEntry: false });
    const held = fstatSync(this.fd);
    if (!onDisk || onDisk.ino !== held.ino || onDisk.dev !== held.dev) this.open(file);
  }

  write(event: AuditEvent): void {
    const file = this.opts.file;
    let before = 0;
    if (file) {
      if (this.fd < 0) this.open(file);
      else this.reopenIfReplaced(file);
      // fstat on the open descriptor (cheaper than a path lookup) sees another writer's appends.
      before = fstatSync(this.fd).size;
      if (before !== this.size) this.prev = lastLineHash(file);
    }
    const time = (this.opts.now?.() ?? new Date()).toISOString();
    const line = JSON.stringify({ time, ...clean(event), prev: this.prev });
    this.prev = lineHash(line);
    // Synchronous append: an audit line must not be lost when the process stops right after a decision.
    if (file) {
      const bytes = Buffer.from(`${line}\n`, 'utf8');
      let done = 0;
      while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
      // If another process appended meanwhile, the size differs at the next write, which re-reads the tail.
      this.size = before + bytes.length;
    }
    this.opts.stream?.write(`${line}\n`);
    if (this.keep > 0) {
      this.lines.push(line);
      if (this.lines.length > this.keep) this.lines.shift();
    }
  }

  /** Closes the file (optional: an unreferenced log closes it when collected). */
  close(): void {
    if (this.fd < 0) return;
    unclosed.unregister(this);
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** Result of verifying an audit log's hash chain. */
export type AuditVerifyResult =
  | { ok: true; lines: number }
  | { ok: false; line: number; reason: string };

/** Verifies a hash-chained audit log; reports the first (1-based) line that breaks the chain. */
export function verifyAuditLog(path: string): AuditVerifyResult {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let prev = GENESIS;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    let parsed: { prev?: unknown };
    try {
      parsed = JSON.parse(line) as { prev?: unknown };
    } catch {
      return { ok: false, line: i + 1, reason: 'not valid JSON' };
    }
    if (parsed.prev !== prev) {
      return { ok: false, line: i + 1, reason: 'hash chain broken: this line, or the one before it, was changed, removed or inserted' };
    }
    prev = lineHash(line);
  }
  return { ok: true, lines: lines.length };
}
