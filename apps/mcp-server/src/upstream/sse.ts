import { StringDecoder } from 'node:string_decoder';

/** One dispatched server-sent event (WHATWG HTML §9.2.6). */
export interface SseEvent {
  /** The `event` field, `message` when the event named none. */
  event: string;
  /** Every `data` line of the event, joined with "\n". */
  data: string;
  /** The `id` field of this event, when it had one. */
  id?: string;
}

/**
 * An incremental `text/event-stream` parser (WHATWG HTML §9.2.6): bytes in as they arrive, events
 * out as each blank line ends one. Lines end in CRLF, LF or CR, also when a chunk splits them (a
 * CR at a chunk's end waits for the next chunk to see whether LF follows); a UTF-8 character split
 * between chunks is decoded whole; comments (`:` lines) and `retry` are skipped; an event without
 * `data` is not dispatched, nor one left unfinished when the stream ends. An event (its data and
 * the unfinished line) longer than `maxEventChars` makes push() throw SseTooLarge, so neither a
 * line without an end nor endless data lines can grow without limit.
 */
export class SseParser {
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';
  private data: string | undefined;
  private event = '';
  private id: string | undefined;
  private started = false;

  constructor(
    private readonly onEvent: (event: SseEvent) => void,
    private readonly maxEventChars = Number.POSITIVE_INFINITY,
  ) {}

  push(chunk: Buffer): void {
    this.buffer += this.decoder.write(chunk);
    this.lines(false);
    if (this.buffer.length + (this.data?.length ?? 0) > this.maxEventChars) throw new SseTooLarge();
  }

  /** The stream ended: a last line without its end still counts, an unfinished event does not. */
  end(): void {
    this.buffer += this.decoder.end();
    this.lines(true);
    if (this.buffer.length > 0) this.line(this.buffer);
    this.buffer = '';
  }

  private lines(final: boolean): void {
    let text = this.buffer;
    if (!this.started && text.length > 0) {
      this.started = true;
      // A leading BOM is not part of the first field name.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let pos = 0;
    for (;;) {
      const lf = text.indexOf('\n', pos);
      const cr = text.indexOf('\r', pos);
      if (lf < 0 && cr < 0) break;
      let end: number;
      let next: number;
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        // A CR as the last character may be the first half of a CRLF split between chunks.
        if (cr === text.length - 1 && !final) break;
        end = cr;
        next = text.charCodeAt(cr + 1) === 10 ? cr + 2 : cr + 1;
      } else {
        end = lf;
        next = lf + 1;
      }
      this.line(text.slice(pos, end));
      pos = next;
      if ((this.data?.length ?? 0) > this.maxEventChars) throw new SseTooLarge();
    }
    this.buffer = pos === 0 ? text : text.slice(pos);
  }

  private line(line: string): void {
    if (line.length === 0) {
      if (this.data !== undefined) this.onEvent({ event: this.event || 'message', data: this.data, ...(this.id === undefined ? {} : { id: this.id }) });
      this.data = undefined;
      this.event = '';
      this.id = undefined;
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' comment */) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data = this.data === undefined ? value : `${this.data}\n${value}`;
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      default:
        // `retry` and unknown fields: the gateway does not reconnect streams.
        break;
    }
  }
}

/** An event grew past the parser's limit. */
export class SseTooLarge extends Error {
  constructor() {
    super('server-sent event too large');
  }
}
