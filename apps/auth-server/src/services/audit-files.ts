import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import { findAuditSets, linesBackwards } from '@stack/audit';

/*
 * Reading an audit log (either app's) newest line first, for the admin console: the file and the
 * files rotated next to it (the same chain), each read backwards in chunks, so a reader stops as
 * soon as it has what it needs and never holds more than one chunk and the line it is at.
 */

/** One line of an audit log, parsed. */
export interface AuditEntry {
  seq: number | undefined;
  /** ms since the epoch; NaN when the line has no valid time. */
  time: number;
  fields: Record<string, unknown>;
}

/** Bytes a read may still take; `exhausted` is set when it ran out before the reader stopped. */
export interface ReadBudget {
  bytes: number;
  exhausted: boolean;
}

export const budget = (bytes: number): ReadBudget => ({ bytes, exhausted: false });

/** The log cannot be read here (missing, a folder, no permission): the console says so rather than showing nothing. */
export class AuditLogUnreadable extends Error {
  constructor(readonly file: string, reason: string) {
    super(reason);
    this.name = 'AuditLogUnreadable';
  }
}

/** The log's files, newest first: `file` and the files of its chain rotated next to it. */
export function chainFilesNewestFirst(file: string): string[] {
  let sets;
  try {
    if (statSync(file).isDirectory()) throw new AuditLogUnreadable(file, 'it is a folder, not a file');
    sets = findAuditSets(file);
  } catch (err) {
    if (err instanceof AuditLogUnreadable) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new AuditLogUnreadable(file, code === 'ENOENT' ? 'there is no such file' : code === 'EACCES' ? 'this server may not read it' : 'it cannot be read');
  }
  const files = sets[0]?.files ?? [file];
  // The file being written is the chain's newest; rotated files come before it in chain order.
  return [file, ...files.filter((f) => f !== file).reverse()];
}

function parseEntry(raw: string): AuditEntry | undefined {
  if (!raw.startsWith('{')) return undefined;
  let fields: unknown;
  try {
    fields = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return undefined;
  const f = fields as Record<string, unknown>;
  return {
    seq: Number.isSafeInteger(f.seq) ? (f.seq as number) : undefined,
    time: typeof f.time === 'string' ? Date.parse(f.time) : Number.NaN,
    fields: f,
  };
}

/**
 * The log's lines, newest first, until the reader stops or `limit` runs out (then limit.exhausted).
 * Lines that are not JSON objects (cut short, foreign) are skipped: verification reports them.
 */
export function* entriesNewestFirst(file: string, limit: ReadBudget): Generator<AuditEntry> {
  for (const f of chainFilesNewestFirst(file)) {
    let fd: number;
    try {
      fd = openSync(f, 'r');
    } catch {
      // A rotated file removed meanwhile: the older lines are gone.
      if (f === file) throw new AuditLogUnreadable(file, 'it cannot be opened');
      continue;
    }
    try {
      for (const raw of linesBackwards(fd, fstatSync(fd).size)) {
        limit.bytes -= Buffer.byteLength(raw) + 1;
        if (limit.bytes < 0) {
          limit.exhausted = true;
          return;
        }
        const e = parseEntry(raw);
        if (e) yield e;
      }
    } finally {
      closeSync(fd);
    }
  }
}
