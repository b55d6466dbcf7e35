import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

// Audit files grow to AUDIT_MAX_FILE_BYTES: these read only the lines they need, from either end.
const CHUNK = 64 * 1024;
/** A header line is small; anything longer is not one. */
const MAX_FIRST_LINE = 64 * 1024;

/** The first line of an open file (without its newline), or undefined when the file is empty. */
export function firstLine(fd: number): string | undefined {
  const size = fstatSync(fd).size;
  if (size === 0) return undefined;
  const buf = Buffer.alloc(Math.min(size, MAX_FIRST_LINE));
  const n = readSync(fd, buf, 0, buf.length, 0);
  const nl = buf.subarray(0, n).indexOf(0x0a);
  return buf.subarray(0, nl < 0 ? n : nl).toString('utf8');
}

/** The first line of a file by path, or undefined when it is missing, empty or unreadable. */
export function firstLineOf(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    return firstLine(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Lines of an open file from the last to the first (without newlines), reading backwards in
 * chunks: callers stop as soon as they have what they need. Splitting happens on bytes, so a
 * multi-byte character across a chunk boundary stays whole.
 */
export function* linesBackwards(fd: number, size: number): Generator<string> {
  let pos = size;
  let rest: Buffer = Buffer.alloc(0);
  let first = true;
  while (pos > 0) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    const chunk = Buffer.alloc(len);
    readSync(fd, chunk, 0, len, pos);
    let buf = Buffer.concat([chunk, rest]);
    if (first) {
      // The file's final newline ends the last line; it does not start an empty one.
      if (buf[buf.length - 1] === 0x0a) buf = buf.subarray(0, buf.length - 1);
      first = false;
    }
    let nl = buf.lastIndexOf(0x0a);
    while (nl >= 0) {
      yield buf.subarray(nl + 1).toString('utf8');
      buf = buf.subarray(0, nl);
      nl = buf.lastIndexOf(0x0a);
    }
    rest = Buffer.from(buf);
  }
  if (rest.length > 0 || size > 0) yield rest.toString('utf8');
}

/** The last line of an open file and whether it ends with a newline (a line cut short does not). */
export function lastLine(fd: number, size: number): { line: string; complete: boolean } | undefined {
  if (size === 0) return undefined;
  const end = Buffer.alloc(1);
  readSync(fd, end, 0, 1, size - 1);
  for (const line of linesBackwards(fd, size)) return { line, complete: end[0] === 0x0a };
  return undefined;
}
