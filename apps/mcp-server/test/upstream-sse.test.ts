import { describe, expect, it } from 'vitest';
import { SseParser, SseTooLarge, type SseEvent } from '../src/upstream/sse.ts';

/** Feeds `chunks` (strings as UTF-8, or bytes) to a parser and returns every event it dispatched. */
function parse(chunks: (string | Buffer)[], opts: { end?: boolean; max?: number } = {}): SseEvent[] {
  const events: SseEvent[] = [];
  const p = new SseParser((e) => events.push(e), opts.max);
  for (const c of chunks) p.push(typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
  if (opts.end ?? true) p.end();
  return events;
}

/** Every way of cutting `text` in two. */
const splits = (text: string) => Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)]);

describe('[GW-UPSTREAM-HTTP] SSE answers from an HTTP upstream are parsed as they arrive', () => {
  const answer = 'event: message\r\nid: 7\r\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\r\n\r\n';

  it('one event, whatever chunk boundary splits it (also between CR and LF)', () => {
    for (const [a, b] of splits(answer)) {
      expect(parse([a!, b!])).toEqual([{ event: 'message', id: '7', data: '{"jsonrpc":"2.0","id":1,"result":{}}' }]);
    }
  });

  it('a UTF-8 character split between chunks is decoded whole', () => {
    const bytes = Buffer.from('data: {"text":"Grüße €"}\n\n', 'utf8');
    for (let i = 0; i <= bytes.length; i++) {
      expect(parse([bytes.subarray(0, i), bytes.subarray(i)])).toEqual([{ event: 'message', data: '{"text":"Grüße €"}' }]);
    }
  });

  it('LF, CRLF and CR line ends, mixed in one stream', () => {
    expect(parse(['data: a\n\n', 'data: b\r\n\r\n', 'data: c\r\r', 'data: d\r\n\n'])).toEqual(['a', 'b', 'c', 'd'].map((data) => ({ event: 'message', data })));
  });

  it('several data lines are one message, joined with LF; a field without a space after the colon keeps its value', () => {
    expect(parse(['data: {"a":\n', 'data:1}\n', '\n'])).toEqual([{ event: 'message', data: '{"a":\n1}' }]);
    expect(parse(['data\n\n'])).toEqual([{ event: 'message', data: '' }]);
  });

  it('comments, retry and unknown fields are skipped; an event without data is not dispatched', () => {
    expect(parse([': keep-alive\n\n', 'retry: 1000\nfoo: bar\n\n', 'event: ping\n\n', ':x\ndata: z\n\n'])).toEqual([{ event: 'message', data: 'z' }]);
  });

  it('an event without an id has none; an id is not carried to the next event; the event type is kept', () => {
    expect(parse(['id: 1\ndata: a\n\n', 'data: b\n\n', 'event: other\ndata: c\n\n'])).toEqual([
      { event: 'message', id: '1', data: 'a' },
      { event: 'message', data: 'b' },
      { event: 'other', data: 'c' },
    ]);
  });

  it('an event the stream ends in the middle of is dropped; a leading BOM is ignored', () => {
    expect(parse(['data: a\n\ndata: b\n'])).toEqual([{ event: 'message', data: 'a' }]);
    expect(parse(['\uFEFFdata: x\n\n'])).toEqual([{ event: 'message', data: 'x' }]);
  });
});

describe('[GW-UPSTREAM-SIZE] an SSE event is bounded as it arrives', () => {
  it('a line without an end past the limit is refused before it is complete', () => {
    const p = new SseParser(() => {}, 1_000);
    p.push(Buffer.from('data: '));
    expect(() => p.push(Buffer.from('x'.repeat(1_000)))).toThrow(SseTooLarge);
  });

  it('many data lines past the limit are refused, though each line is short', () => {
    const p = new SseParser(() => {}, 1_000);
    expect(() => {
      for (let i = 0; i < 100; i++) p.push(Buffer.from(`data: ${'y'.repeat(50)}\n`));
    }).toThrow(SseTooLarge);
  });

  it('events under the limit pass, however many', () => {
    expect(parse(Array.from({ length: 50 }, () => `data: ${'z'.repeat(500)}\n\n`), { max: 1_000 })).toHaveLength(50);
  });
});
