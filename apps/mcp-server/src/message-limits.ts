import { Transform, type TransformCallback } from 'node:stream';

/**
 * Byte caps on what crosses a process or network boundary into this server's memory: the rows a
 * SQL worker sends back, the tool result handed to a transport, a JSON-RPC message read from a
 * stream. Sizes are UTF-8 bytes of the JSON text. The gateway to upstream MCP servers applies the
 * same caps to what an upstream sends (a stdio upstream's lines with `limitLines`, an HTTP
 * upstream's bodies with MAX_REPLY_BYTES).
 *
 * Invariant: the SQL worker never sends a result larger than MAX_RESULT_BYTES. An IPC message is
 * parsed whole before the parent can look at it, so the worker's own cap is the real guard; the
 * parent checks every tool result again against MAX_REPLY_BYTES and refuses a larger one.
 */

/** Text kept of one text cell; a longer value becomes `{ truncated_text, length }`. */
export const MAX_CELL_BYTES = 64 * 1024;
/** Bytes of a blob shown (base64) next to its full size. */
export const MAX_BLOB_PREVIEW_BYTES = 1024;
/** One row, all cells together, as JSON. */
export const MAX_ROW_BYTES = 256 * 1024;
/** The column names and rows of one statement's result, as JSON. */
export const MAX_RESULT_BYTES = 1024 * 1024;
/** A whole tool result as JSON: the rows plus the fields around them. */
export const MAX_REPLY_BYTES = MAX_RESULT_BYTES + 64 * 1024;

export const jsonBytes = (v: unknown): number => Buffer.byteLength(JSON.stringify(v) ?? '');

const encoder = new TextEncoder();

/** The longest prefix of `s` whose UTF-8 encoding fits `maxBytes`, never splitting a character. */
export function utf8Prefix(s: string, maxBytes: number): string {
  if (maxBytes <= 0) return '';
  // Each UTF-16 unit encodes to at least one byte, so the first maxBytes units are enough.
  const head = s.length > maxBytes ? s.slice(0, maxBytes) : s;
  const { read } = encoder.encodeInto(head, new Uint8Array(maxBytes));
  return head.slice(0, read);
}

/**
 * Splits a byte stream into newline-terminated lines of at most `maxBytes` (the newline not
 * counted) and passes them on unchanged. A longer line is never buffered: its bytes are dropped
 * as they arrive, up to its newline, and `onOversized` is told its size. For stdio, where one
 * JSON-RPC message is one line.
 */
export function limitLines(maxBytes: number, onOversized: (bytes: number) => void): Transform {
  let parts: Buffer[] = [];
  let size = 0;
  let dropping = false;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      let start = 0;
      while (start < chunk.length) {
        const nl = chunk.indexOf(10, start);
        const end = nl === -1 ? chunk.length : nl;
        size += end - start;
        if (!dropping && size > maxBytes) {
          dropping = true;
          parts = [];
        }
        if (!dropping) parts.push(chunk.subarray(start, nl === -1 ? end : end + 1));
        if (nl === -1) break;
        if (dropping) onOversized(size);
        else this.push(parts.length === 1 ? parts[0] : Buffer.concat(parts));
        parts = [];
        size = 0;
        dropping = false;
        start = nl + 1;
      }
      done();
    },
  });
}
