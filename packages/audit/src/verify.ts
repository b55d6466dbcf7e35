import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { AuditAnchor, AuditAnchorStore } from './anchors.ts';
import {
  CHAIN_BROKEN, GENESIS, SEGMENT_STARTED, headerOf, isLegacyLine, macValid, parseLine, previousKeyMacValid, sha256,
  type AuditKey, type ParsedLine, type SegmentHeader,
} from './chain.ts';
import { firstLineOf } from './file-lines.ts';

/** What `audit verify` can find. */
export type AuditProblemKind =
  | 'edited' // a line does not match its MAC (or is not an audit line)
  | 'deleted' // seq numbers are missing
  | 'reordered' // a seq comes after a later one, or twice
  | 'truncated' // the log ends before the line the database anchored
  | 're-chained' // consecutive lines fail their MACs although the unkeyed hashes agree: rewritten without the key
  | 'replaced' // no MAC matches from the first line, or the chain is unknown to the database, or the anchored line differs
  | 'old-format' // written before keyed chains: only the unkeyed hash chain can be checked
  | 'unverifiable'; // written under a key-encryption key that is not configured

export interface AuditProblem {
  kind: AuditProblemKind;
  /** One line, naming the file, line and seq. */
  message: string;
}

/** The files of one chain (or one file that is not part of any), in chain order. */
export interface AuditFileSet {
  chain?: string | undefined;
  app?: string | undefined;
  /** Paths, ordered by the seq of their header. */
  files: string[];
  legacy?: boolean;
}

export interface AuditSetReport {
  set: AuditFileSet;
  lines: number;
  firstSeq?: number | undefined;
  lastSeq?: number | undefined;
  anchor?: AuditAnchor | undefined;
  /** Facts worth printing that are not problems (a recorded break, a key change). */
  notes: string[];
  problems: AuditProblem[];
}

export interface VerifyOptions {
  /** Every key the log may have been written with (current and previous KEKs, derived). */
  keys: readonly AuditKey[];
  /** The app database's anchors; without them truncation and replacement cannot be seen. */
  anchors?: AuditAnchorStore | undefined;
}

const LOG_NAME = /\.(log|jsonl)$/;

/**
 * The audit file sets at `path`. A file: its chain, i.e. every file in its folder whose header
 * names the same chain (rotated files included). A folder: every chain found there, plus each
 * `*.log` / `*.jsonl` file that is not part of one (an old-format or unrecognisable log).
 */
export function findAuditSets(path: string): AuditFileSet[] {
  const isDir = statSync(path).isDirectory();
  const dir = isDir ? path : dirname(path);
  const candidates = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(dir, e.name));
  const headers = new Map<string, SegmentHeader | 'legacy' | undefined>();
  for (const f of candidates) {
    // Only files that look like JSON lines are read further (the folder also holds databases and keys).
    const first = firstLineOf(f);
    if (first === undefined || !first.startsWith('{')) { headers.set(f, undefined); continue; }
    headers.set(f, headerOf(parseLine(first)) ?? (isLegacyLine(first) ? 'legacy' : undefined));
  }
  const chains = new Map<string, { app: string; files: { path: string; seq: number }[] }>();
  const singles: AuditFileSet[] = [];
  for (const [f, h] of headers) {
    if (h === undefined || h === 'legacy') {
      if (isDir ? LOG_NAME.test(f) : f === path) singles.push(h === 'legacy' ? { files: [f], legacy: true } : { files: [f] });
      continue;
    }
    const c = chains.get(h.chain) ?? { app: h.app, files: [] };
    c.files.push({ path: f, seq: h.seq });
    chains.set(h.chain, c);
  }
  const sets: AuditFileSet[] = [...chains].map(([chain, c]) => ({
    chain, app: c.app, files: c.files.sort((a, b) => a.seq - b.seq || a.path.localeCompare(b.path)).map((x) => x.path),
  }));
  if (isDir) return [...sets, ...singles];
  const own = headers.get(path);
  return own && own !== 'legacy' ? sets.filter((s) => s.chain === own.chain) : singles;
}

/** The old format: each line's `prev` is the SHA-256 of the line before, without key, seq or anchors. */
function verifyLegacy(file: string): AuditProblem {
  const lines = readFileSync(file, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let prev = GENESIS;
  let broken = '';
  for (let i = 0; i < lines.length && !broken; i++) {
    let parsed: { prev?: unknown } | undefined;
    try { parsed = JSON.parse(lines[i]!) as { prev?: unknown }; } catch { parsed = undefined; }
    if (parsed?.prev !== prev) broken = `its hash chain breaks at line ${i + 1}`;
    prev = sha256(lines[i]!);
  }
  return {
    kind: 'old-format',
    message: `${basename(file)} is an old-format audit log (unkeyed SHA-256 chain, before keyed chains): ${broken || `its hash chain is consistent over ${lines.length} lines`}, `
      + 'but without a key or anchors this format cannot show truncation, re-chaining or replacement',
  };
}

interface Loc {
  file: string;
  line: number;
  seq: number | undefined;
  idx: number;
}

const where = (l: Loc) => `line ${l.line} of ${basename(l.file)}${l.seq === undefined ? '' : ` (seq ${l.seq})`}`;

// Gaps up to this size are remembered to tell a moved line (found later) from a deleted one.
const MAX_TRACKED_GAP = 10_000;
const MAX_PROBLEMS = 50;

/** Verifies one file set: MACs, seq order, the unkeyed chain, and the database's anchor. */
export async function verifyAuditSet(set: AuditFileSet, opts: VerifyOptions): Promise<AuditSetReport> {
  const report: AuditSetReport = { set, lines: 0, notes: [], problems: [] };
  const problem = (kind: AuditProblemKind, message: string) => { report.problems.push({ kind, message }); };
  if (set.legacy) {
    problem('old-format', verifyLegacy(set.files[0]!).message);
    return report;
  }
  if (!set.chain) {
    problem('replaced', `${basename(set.files[0]!)}: its first line is not a chain header (not a keyed audit log, or replaced)`);
    return report;
  }
  const anchor = await opts.anchors?.latest(set.chain);
  report.anchor = anchor;
  const keyFor = (kid: string) => opts.keys.find((k) => k.id === kid);

  let expected: number | undefined;
  let prevHash: string | undefined;
  let idx = 0;
  let anchoredLine: ParsedLine | undefined;
  let lastLoc: Loc | undefined;
  const missing = new Map<number, Loc>();
  const explained = new Set<number>();
  const prevBreaks: Loc[] = [];
  // A run of consecutive lines that fail their MACs.
  let run: { start: Loc; len: number; consistent: boolean } | undefined;
  const closeRun = (atEnd: boolean) => {
    if (!run) return;
    const { start, len, consistent } = run;
    for (let i = start.idx; i <= start.idx + len; i++) explained.add(i);
    if (start.idx === 0 && atEnd) {
      problem('replaced', `no line matches its MAC, from the first (${where(start)}) on: the log was replaced by a forged one, or KEY_ENCRYPTION_KEY is not the key it was written with`);
    } else if (len >= 2 && consistent) {
      problem('re-chained', `from ${where(start)} on, ${len} lines fail their MACs although their unkeyed hashes agree: rewritten and re-hashed without the key`);
    } else {
      problem('edited', len === 1 ? `${where(start)} does not match its MAC` : `${len} lines from ${where(start)} on do not match their MACs`);
    }
    run = undefined;
  };

  for (const [fileNo, file] of set.files.entries()) {
    let key: AuditKey | undefined;
    let lineNo = 0;
    const input = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
    for await (const raw of input) {
      lineNo++;
      const parsed = parseLine(raw);
      const loc: Loc = { file, line: lineNo, seq: parsed?.seq, idx };
      if (lineNo === 1) {
        const header = headerOf(parsed);
        if (header?.chain === set.chain) {
          key = keyFor(header.kid);
          if (!key) problem('unverifiable', `${basename(file)} was written under key-encryption key ${header.kid}, which is not configured: its MACs cannot be checked (put that key in KEY_ENCRYPTION_KEY_PREVIOUS)`);
          if (header.previousKid) {
            const previous = keyFor(header.previousKid);
            if (previous && previousKeyMacValid(parsed!, previous) === false) problem('edited', `${where(loc)}: the key change is not vouched for by the previous key`);
            report.notes.push(`${basename(file)} starts a new key: KEK ${header.previousKid} → ${header.kid}`);
          }
          if (fileNo === 0 && header.event === SEGMENT_STARTED) {
            problem('deleted', `the earliest file, ${basename(file)}, starts at seq ${header.seq} and continues ${header.prevFile ?? 'a file renamed outside the app'}, which is not here (earlier files deleted)`);
          }
          if (fileNo === 0 && header.event === CHAIN_BROKEN) {
            const f = parsed!.fields;
            report.notes.push(`this chain was started at ${String(f.time)} after a recorded break: ${String(f.reason)}${typeof f.broken_file === 'string' ? ` (the old file was kept as ${f.broken_file})` : ''}`);
          }
        } else if (!key) {
          // Not a header of this chain: keep checking with the key of the file before, if any.
          key = keyFor(headerOf(parseLine(firstLineOf(set.files[Math.max(0, fileNo - 1)]!) ?? ''))?.kid ?? '');
        }
      }
      if (!parsed) {
        problem('edited', `${where(loc)} is not a valid audit line`);
        explained.add(idx).add(idx + 1);
        if (!run) run = { start: loc, len: 1, consistent: false };
        else { run.len++; run.consistent = false; }
        prevHash = sha256(raw);
        idx++;
        continue;
      }
      // seq: one more than the line before, from the chain's first line on.
      if (expected === undefined) {
        expected = parsed.seq;
        report.firstSeq = parsed.seq;
      }
      if (parsed.seq === expected) {
        expected++;
      } else if (parsed.seq > expected) {
        if (parsed.seq - expected <= MAX_TRACKED_GAP) for (let s = expected; s < parsed.seq; s++) missing.set(s, loc);
        else problem('deleted', `seq ${expected}–${parsed.seq - 1} are missing before ${where(loc)}`);
        explained.add(idx);
        expected = parsed.seq + 1;
      } else {
        problem('reordered', missing.delete(parsed.seq)
          ? `${where(loc)} comes after seq ${expected - 1}: lines were moved`
          : `${where(loc)} repeats an earlier seq: a line was copied or moved`);
        explained.add(idx);
      }
      const atChainStart = idx === 0 && parsed.seq === 0;
      const prevOk = parsed.prev === (prevHash ?? (atChainStart ? GENESIS : parsed.prev));
      if (!prevOk) prevBreaks.push(loc);
      const macOk = key ? macValid(parsed, key) : undefined;
      if (macOk === false) {
        if (!run) run = { start: loc, len: 1, consistent: true };
        else { run.len++; if (!prevOk) run.consistent = false; }
      } else {
        closeRun(false);
      }
      if (anchor && parsed.seq === anchor.seq) anchoredLine = parsed;
      report.lastSeq = Math.max(report.lastSeq ?? parsed.seq, parsed.seq);
      report.lines++;
      lastLoc = loc;
      prevHash = sha256(raw);
      idx++;
    }
  }
  closeRun(true);

  // Seq numbers that never turned up were deleted; runs of them are reported together.
  const gaps = [...missing.keys()].sort((a, b) => a - b);
  for (let i = 0; i < gaps.length;) {
    let j = i;
    while (j + 1 < gaps.length && gaps[j + 1] === gaps[j]! + 1 && missing.get(gaps[j + 1]!) === missing.get(gaps[i]!)) j++;
    const n = j - i + 1;
    problem('deleted', `${n === 1 ? `seq ${gaps[i]} is` : `seq ${gaps[i]}–${gaps[j]} (${n} lines) are`} missing before ${where(missing.get(gaps[i]!)!)}`);
    i = j + 1;
  }
  // A broken unkeyed link that nothing above explains (both lines' MACs valid, seq in order).
  for (const l of prevBreaks) {
    if (!explained.has(l.idx) && !explained.has(l.idx - 1)) problem('edited', `${where(l)} does not follow the line before it (its prev hash differs)`);
  }

  if (opts.anchors) {
    if (!anchor) {
      problem('replaced', `chain ${set.chain} is not recorded in the database (every chain is anchored when it starts): the log was replaced, or this is not its database`);
    } else if (report.lastSeq === undefined || report.lastSeq < anchor.seq) {
      const end = lastLoc ? `ends at ${where(lastLoc)}` : 'is empty';
      problem('truncated', `the log ${end}, but the database anchored seq ${anchor.seq} at ${new Date(anchor.at).toISOString()}: lines were cut off the end`);
    } else if (anchoredLine && anchoredLine.mac !== anchor.mac) {
      problem('replaced', `the line at seq ${anchor.seq} is not the one the database anchored at ${new Date(anchor.at).toISOString()}: the log was rewritten or replaced`);
    }
  } else {
    report.notes.push('no database anchors were given: truncation and replacement cannot be detected');
  }
  if (report.problems.length > MAX_PROBLEMS) {
    const more = report.problems.length - MAX_PROBLEMS;
    report.problems.splice(MAX_PROBLEMS, more, { kind: report.problems[MAX_PROBLEMS]!.kind, message: `… and ${more} more problem(s)` });
  }
  return report;
}

/** Verifies every file set at `path` (see findAuditSets), one report each. */
export async function verifyAuditPath(path: string, opts: VerifyOptions): Promise<AuditSetReport[]> {
  const reports: AuditSetReport[] = [];
  for (const set of findAuditSets(path)) reports.push(await verifyAuditSet(set, opts));
  return reports;
}
