import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { AuditAnchor, AuditAnchorStore } from './anchors.ts';
import {
  CHAIN_BROKEN, CHAIN_STARTED, GENESIS, SEGMENT_STARTED, headerOf, isLegacyLine, macValid, parseLine, sealLine, sha256,
  type AuditKey, type ParsedLine, type SegmentHeader,
} from './chain.ts';
import { cleanEvent, type AuditEvent } from './clean.ts';
import { firstLine, lastLine, linesBackwards } from './file-lines.ts';

/** Where audit lines go. */
export interface AuditSink {
  write(event: AuditEvent): void;
}

/** What to do at start when the log does not match its anchors or its MACs. */
export type BrokenChainPolicy = 'refuse' | 'record';

/** The log on disk does not continue the chain the database anchored (or its own MACs): refused at start. */
export class AuditChainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditChainError';
  }
}

export interface AuditLogOptions {
  /** Append chained JSON lines to this file (its directory is created with mode 0700, the file with 0600). */
  file?: string | undefined;
  /** Also write each line to this stream (e.g. process.stdout). */
  stream?: { write(s: string): unknown } | undefined;
  /** MAC keys (deriveAuditKeys): the first signs new lines, the others only check older files (KEK rotation). */
  keys: readonly AuditKey[];
  /** Which app writes the log, recorded in each file's header ('auth-server', 'mcp-server'). */
  app?: string;
  /**
   * How the anchors name this log (default: the file's path). Several hosts sharing one database
   * must give their logs distinct names (e.g. host:path), or each would find the other's anchors.
   */
  name?: string | undefined;
  /** Where anchors are recorded and read back at start; without it only the log's own MACs are checked. */
  anchors?: AuditAnchorStore | undefined;
  /** Also print each anchor as one JSON line here, for a log collector (AUDIT_ANCHOR_STDOUT). */
  anchorStream?: { write(s: string): unknown } | undefined;
  /** Anchor after this many lines (default 100) ... */
  anchorEveryLines?: number;
  /** ... or this often while lines are written (default 10 s), and on close. */
  anchorIntervalMs?: number;
  /** Start a new file (the chain continues) when this one would grow past this size (default 64 MiB). */
  maxFileBytes?: number;
  /** refuse (default): a log that does not match throws AuditChainError; record: it is moved aside and a new chain starts with a line recording the break. */
  onBrokenChain?: BrokenChainPolicy;
  /** Called when recording an anchor fails (the database is down): the log itself carries on. */
  onError?: (err: unknown) => void;
  now?: () => Date;
}

const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
const DEFAULT_ANCHOR_LINES = 100;
const DEFAULT_ANCHOR_MS = 10_000;

// Descriptors of logs that were dropped without close() are closed when they are collected.
const unclosed = new FinalizationRegistry<number>((fd) => {
  try { closeSync(fd); } catch { /* already closed */ }
});

/** What is on disk at the log's path when it is opened. */
type Found =
  | { kind: 'missing' | 'empty' | 'legacy' }
  | { kind: 'broken'; reason: string; chain?: string | undefined }
  | { kind: 'ok'; header: SegmentHeader; last: ParsedLine };

function isoMs(ms: number): string {
  return new Date(ms).toISOString();
}

/** A name next to `file` for an old file: `<stem>.<tag><ext>`, made unique. */
function sideName(file: string, tag: string): string {
  const ext = extname(file);
  const stem = basename(file, ext);
  let name = join(dirname(file), `${stem}.${tag}${ext}`);
  while (existsSync(name)) name = join(dirname(file), `${stem}.${tag}-${randomBytes(3).toString('hex')}${ext}`);
  return name;
}

const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

/**
 * A keyed, anchored, rotating audit log of JSON lines (see chain.ts for the line format).
 *
 * At open it checks that the file continues the chain the database anchored: the anchored line is
 * still there with the same MAC, the file is not shorter, it holds the anchored chain, and its first
 * and last lines match their MACs. A mismatch is refused (AuditChainError) or, with
 * onBrokenChain 'record', recorded as the first line of a new chain; never resumed silently.
 *
 * Appends are synchronous (an ALLOWED decision's line is on disk before the call runs). Another
 * process (the admin CLI) may append to the same file: the size and inode are checked before each
 * write and the chain continues from whatever that process wrote last.
 */
export class AuditLog implements AuditSink {
  /** Event lines written since open (not the chain's own header lines), for tests and metrics. */
  readonly lines: string[] = [];
  private readonly opts: AuditLogOptions;
  private readonly keep: number;
  private readonly maxFileBytes: number;
  private readonly anchorEveryLines: number;
  private fd = -1;
  /** File size after our last append; a different size means another process wrote. */
  private size = 0;
  /** The last byte on disk was not a newline (another writer was cut off): start ours on a new line. */
  private needsNewline = false;
  private chain = '';
  private kid = '';
  private seq = -1;
  private prevHash = GENESIS;
  private lastMac = '';
  /** seq of the current file's header. */
  private segmentSeq = 0;
  private sinceAnchor = 0;
  private timer: NodeJS.Timeout | undefined;
  private pending = new Set<Promise<void>>();
  private closed = false;

  private constructor(opts: AuditLogOptions, keepInMemory: number) {
    if (opts.keys.length === 0) throw new TypeError('an audit log needs at least one key');
    this.opts = opts;
    this.keep = keepInMemory;
    this.maxFileBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.anchorEveryLines = opts.anchorEveryLines ?? DEFAULT_ANCHOR_LINES;
  }

  /** Opens the log, checking it against its anchors first (see the class comment). */
  static async open(opts: AuditLogOptions, keepInMemory = 0): Promise<AuditLog> {
    const log = new AuditLog(opts, keepInMemory);
    try {
      await log.start();
    } catch (err) {
      log.closeFd();
      throw err;
    }
    return log;
  }

  private get name(): string {
    return this.opts.name ?? this.opts.file ?? '';
  }

  private get signingKey(): AuditKey {
    return this.opts.keys[0]!;
  }

  private keyFor(kid: string): AuditKey | undefined {
    return this.opts.keys.find((k) => k.id === kid);
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  private async start(): Promise<void> {
    const file = this.opts.file;
    if (!file) {
      this.startChain(CHAIN_STARTED, {});
    } else {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      const found = this.inspect(file);
      const problem = found.kind === 'broken' ? found.reason : await this.checkAnchors(file, found);
      if (problem) {
        const message = `audit log ${file} does not continue its chain: ${problem}`;
        if ((this.opts.onBrokenChain ?? 'refuse') === 'refuse') {
          throw new AuditChainError(`${message}. Refusing to start: run 'npm run admin -- audit verify ${file}' to see what changed; AUDIT_ON_BROKEN_CHAIN=record starts a new chain that records the break`);
        }
        const aside = existsSync(file) ? sideName(file, `broken-${stamp(this.now())}`) : undefined;
        if (aside) renameSync(file, aside);
        this.openFile(file);
        this.startChain(CHAIN_BROKEN, {
          reason: problem.slice(0, 400),
          broken_file: aside ? basename(aside) : null,
          previous_chain: found.kind === 'ok' ? found.header.chain : (found.kind === 'broken' ? found.chain ?? null : null),
        });
      } else if (found.kind === 'ok') {
        this.openFile(file);
        this.adopt(found.header, found.last);
        // After a KEK rotation: the next file is signed with the new key, its header vouched for by both.
        if (this.kid !== this.signingKey.id) this.rotate(this.keyFor(this.kid));
      } else {
        // A first start, or a log from before keyed chains, which is kept aside under its own name.
        const aside = found.kind === 'legacy' ? sideName(file, `unkeyed-${stamp(this.now())}`) : undefined;
        if (aside) renameSync(file, aside);
        this.openFile(file);
        this.startChain(CHAIN_STARTED, aside ? { previous_file: basename(aside) } : {});
      }
    }
    this.anchor();
    const every = this.opts.anchorIntervalMs ?? DEFAULT_ANCHOR_MS;
    this.timer = setInterval(() => { if (this.sinceAnchor > 0) this.anchor(); }, every);
    this.timer.unref();
  }

  /** Reads the header and last line of the file at `file` and checks both MACs. */
  private inspect(file: string): Found {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
      throw err;
    }
    try {
      const size = fstatSync(fd).size;
      if (size === 0) return { kind: 'empty' };
      const first = firstLine(fd)!;
      const headLine = parseLine(first);
      const header = headerOf(headLine);
      if (!header) return isLegacyLine(first) ? { kind: 'legacy' } : { kind: 'broken', reason: 'its first line is not a chain header (replaced?)' };
      const key = this.keyFor(header.kid);
      if (!key) {
        return { kind: 'broken', chain: header.chain, reason: `it was written under key-encryption key ${header.kid}, which is not configured (after a KEK rotation, put the old key in KEY_ENCRYPTION_KEY_PREVIOUS)` };
      }
      if (!macValid(headLine!, key)) return { kind: 'broken', chain: header.chain, reason: 'its first line does not match its MAC (replaced, or written under another key)' };
      const tail = lastLine(fd, size)!;
      const last = parseLine(tail.line);
      if (!tail.complete || !last) return { kind: 'broken', chain: header.chain, reason: 'its last line is incomplete or not an audit line' };
      if (!macValid(last, key)) return { kind: 'broken', chain: header.chain, reason: `its last line (seq ${last.seq}) does not match its MAC (edited or re-chained)` };
      if (last.seq < header.seq) return { kind: 'broken', chain: header.chain, reason: `its last line (seq ${last.seq}) comes before its header (seq ${header.seq})` };
      return { kind: 'ok', header, last };
    } finally {
      closeSync(fd);
    }
  }

  /** Compares the file with the database's anchors; returns the problem, if any. */
  private async checkAnchors(file: string, found: Found): Promise<string | undefined> {
    const anchors = this.opts.anchors;
    if (!anchors) return undefined;
    const byLog = await anchors.latestForLog(this.name);
    const at = (a: AuditAnchor) => `seq ${a.seq} of chain ${a.chain} at ${isoMs(a.at)}`;
    if (found.kind !== 'ok') {
      if (!byLog) return undefined;
      const what = found.kind === 'legacy' ? 'holds an old unkeyed log' : `is ${found.kind}`;
      return `the file ${what}, but the database anchored ${at(byLog)} (deleted or replaced)`;
    }
    const { header, last } = found;
    if (byLog && byLog.chain !== header.chain) {
      return `the file holds chain ${header.chain}, but the database's latest anchor for this log is ${at(byLog)} (replaced)`;
    }
    const byChain = await anchors.latest(header.chain);
    if (!byChain) return undefined;
    if (byChain.seq > last.seq) return `the file ends at seq ${last.seq}, but the database anchored ${at(byChain)} (truncated)`;
    if (byChain.seq < header.seq) return undefined; // anchored in an earlier file of the chain; this one continues it
    const line = this.findLine(file, byChain.seq);
    const key = this.keyFor(header.kid)!;
    if (!line || line.mac !== byChain.mac || !macValid(line, key)) {
      return `the line at seq ${byChain.seq} is not the one the database anchored at ${isoMs(byChain.at)} (rewritten)`;
    }
    return undefined;
  }

  /** The line with this seq, searching backwards from the end (anchors are near the end). */
  private findLine(file: string, seq: number): ParsedLine | undefined {
    const fd = openSync(file, 'r');
    try {
      for (const raw of linesBackwards(fd, fstatSync(fd).size)) {
        const line = parseLine(raw);
        if (line && line.seq <= seq) return line.seq === seq ? line : undefined;
      }
      return undefined;
    } finally {
      closeSync(fd);
    }
  }

  private openFile(file: string, exclusive = false): void {
    this.closeFd();
    // a+: O_APPEND for writes (every write lands at the end, whoever else appends), reads for the tail.
    this.fd = openSync(file, exclusive ? 'ax+' : 'a+', 0o600);
    unclosed.register(this, this.fd, this);
    this.size = fstatSync(this.fd).size;
    this.needsNewline = false;
  }

  private closeFd(): void {
    if (this.fd < 0) return;
    unclosed.unregister(this);
    closeSync(this.fd);
    this.fd = -1;
  }

  private adopt(header: SegmentHeader, last: ParsedLine): void {
    this.chain = header.chain;
    this.kid = header.kid;
    this.segmentSeq = header.seq;
    this.adoptTail(last);
  }

  private adoptTail(last: ParsedLine): void {
    this.seq = last.seq;
    this.prevHash = sha256(last.raw);
    this.lastMac = last.mac;
  }

  /** Another process appended to, or rotated, the file since our last write: continue from what it wrote. */
  private syncWithDisk(file: string): void {
    const held = fstatSync(this.fd);
    const onDisk = statSync(file, { throwIfNoEntry: false });
    if (held.size !== this.size) {
      const tail = lastLine(this.fd, held.size);
      const last = tail && parseLine(tail.line);
      if (tail && last) this.adoptTail(last);
      // Not an audit line: chain over it anyway, so verify reports exactly that line.
      else if (tail) this.prevHash = sha256(tail.line);
      this.needsNewline = tail !== undefined && !tail.complete;
      this.size = held.size;
    }
    if (onDisk && onDisk.ino === held.ino && onDisk.dev === held.dev) return;
    // Renamed or removed under us: by the other writer's rotation (a new file with its header is
    // there), or by something outside the app (start the next file of the chain ourselves).
    this.continueIn(file);
  }

  /** Opens `file` and continues the chain there: from its header and last line, or with a new header if it is empty. */
  private continueIn(file: string): void {
    this.openFile(file);
    if (this.size > 0) {
      const head = headerOf(parseLine(firstLine(this.fd) ?? ''));
      const tail = lastLine(this.fd, this.size);
      const last = tail && parseLine(tail.line);
      if (head && last) {
        this.adopt(head, last);
        this.needsNewline = !tail.complete;
        return;
      }
    }
    this.writeHeader(SEGMENT_STARTED, { prev_file: null });
  }

  /** Starts a new chain (seq 0) with `event` as its header. */
  private startChain(event: string, extra: Record<string, unknown>): void {
    this.chain = randomBytes(12).toString('base64url');
    this.seq = -1;
    this.prevHash = GENESIS;
    this.writeHeader(event, extra);
  }

  private writeHeader(event: string, extra: Record<string, unknown>, previousKey?: AuditKey): void {
    const key = this.signingKey;
    const fields = {
      seq: this.seq + 1, time: this.now().toISOString(), event, chain: this.chain, kid: key.id,
      app: this.opts.app ?? 'unknown', log: this.opts.file ? this.name : null, ...extra,
      ...(previousKey ? { previous_kid: previousKey.id } : {}),
      prev: this.prevHash,
    };
    this.kid = key.id;
    this.segmentSeq = fields.seq;
    this.append(sealLine(fields, key, previousKey), false);
  }

  /** Moves the current file aside as `<stem>.<first seq><ext>` and continues the chain in a new one. */
  private rotate(previousKey?: AuditKey): void {
    const file = this.opts.file!;
    const aside = sideName(file, String(this.segmentSeq).padStart(12, '0'));
    renameSync(file, aside);
    try {
      this.openFile(file, true);
    } catch (err) {
      // Another writer rotated at the same moment and created the new file: continue in it.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      this.continueIn(file);
      return;
    }
    this.writeHeader(SEGMENT_STARTED, { prev_file: basename(aside) }, previousKey);
    this.anchor();
  }

  write(event: AuditEvent): void {
    if (this.closed) throw new Error('audit log is closed');
    const file = this.opts.file;
    if (file) this.syncWithDisk(file);
    const fields = cleanEvent(event);
    let line = this.seal(fields);
    if (file && this.seq > this.segmentSeq && this.size + Buffer.byteLength(line) + 1 > this.maxFileBytes) {
      this.rotate();
      line = this.seal(fields);
    }
    this.append(line, true);
    if (++this.sinceAnchor >= this.anchorEveryLines) this.anchor();
  }

  private seal(fields: Record<string, unknown>): string {
    const key = this.keyFor(this.kid) ?? this.signingKey;
    return sealLine({ seq: this.seq + 1, time: this.now().toISOString(), ...fields, prev: this.prevHash }, key);
  }

  /** Appends a line sealed with seq this.seq + 1. */
  private append(line: string, isEvent: boolean): void {
    if (this.fd >= 0) {
      const bytes = Buffer.from(`${this.needsNewline ? '\n' : ''}${line}\n`, 'utf8');
      let done = 0;
      while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
      this.size += bytes.length;
      this.needsNewline = false;
    }
    this.seq += 1;
    this.prevHash = sha256(line);
    // sealLine ends every line with ,"mac":"<64 hex>"}
    this.lastMac = line.slice(-66, -2);
    this.opts.stream?.write(`${line}\n`);
    if (isEvent && this.keep > 0) {
      this.lines.push(line);
      if (this.lines.length > this.keep) this.lines.shift();
    }
  }

  /** Records where the chain stands now (database, and the anchor stream if set). */
  private anchor(): void {
    this.sinceAnchor = 0;
    const a: AuditAnchor = {
      log: this.name, chain: this.chain, seq: this.seq, mac: this.lastMac,
      file: this.opts.file ? basename(this.opts.file) : '', at: this.now().getTime(),
    };
    this.opts.anchorStream?.write(`${JSON.stringify({ audit_anchor: { ...a, at: isoMs(a.at) } })}\n`);
    if (!this.opts.anchors || !this.opts.file) return;
    const p = this.opts.anchors.save(a).catch((err: unknown) => this.opts.onError?.(err)).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Records a final anchor, waits for anchors in flight and closes the file. Writes after this throw. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    if (this.sinceAnchor > 0) this.anchor();
    await Promise.all([...this.pending]);
    this.closeFd();
  }
}
