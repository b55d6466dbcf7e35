import { statSync } from 'node:fs';
import { findAuditSets, verifyAuditSet, type AuditAnchorStore, type AuditKey, type AuditSetReport } from '@stack/audit';

/*
 * The audit chain's verification for the admin console: the verifier of `audit verify`
 * (@stack/audit verifyAuditSet, with the same keys and anchors) run on the log's chain. A check
 * reads every file of the chain, so it runs only when asked (the page's "Verify now"), one at a
 * time, on at most maxBytes; its result is kept and shown with the time it was made.
 */

export type ChainState = 'ok' | 'broken' | 'anchors' | 'unverifiable' | 'too_large' | 'unreadable';

export interface ChainStatus {
  state: ChainState;
  /** When the check ran, ms. */
  checkedAt: number;
  /** One sentence: what was found. */
  summary: string;
  /** The verifier's problems (first few), one line each. */
  problems: string[];
  notes: string[];
}

export interface ChainCheckOptions {
  file: string;
  keys: readonly AuditKey[];
  /** The app's anchors; without them truncation and replacement cannot be seen (the note says so). */
  anchors?: AuditAnchorStore | undefined;
  maxBytes: number;
  now: () => number;
}

export interface ChainCheck {
  /** The last check's result, if any ran. */
  last(): ChainStatus | undefined;
  /** Runs a check, or joins the one under way. */
  run(): Promise<ChainStatus>;
}

const SHOWN_PROBLEMS = 5;
const MIB = 1024 * 1024;

// Problems that are about the database's anchors rather than the lines themselves.
const aboutAnchors = (p: { kind: string; message: string }) => p.kind === 'truncated' || (p.kind === 'replaced' && /database/.test(p.message));

/** What a verifier report means, as the page shows it. */
export function statusOf(reports: readonly AuditSetReport[], checkedAt: number): ChainStatus {
  const problems = reports.flatMap((r) => r.problems);
  const notes = reports.flatMap((r) => r.notes);
  const lines = reports.reduce((n, r) => n + r.lines, 0);
  if (problems.length === 0) {
    return { state: 'ok', checkedAt, summary: `OK: ${lines} lines, every MAC valid${reports.some((r) => r.anchor) ? ', matching the anchors in the database' : ''}.`, problems: [], notes };
  }
  // Another key-encryption key (an MCP server that does not share this server's): nothing is known to be wrong.
  const state: ChainState = problems.every((p) => p.kind === 'unverifiable') ? 'unverifiable' : problems.every(aboutAnchors) ? 'anchors' : 'broken';
  const first = problems[0]!.message;
  const at = /line (\d+) of (\S+)/.exec(first);
  const summary = state === 'unverifiable'
    ? 'Cannot be checked here: the log was written under a key-encryption key this server does not have.'
    : state === 'anchors'
    ? 'The log does not match the anchors in the database.'
    : `Broken${at ? ` at line ${at[1]} of ${at[2]}` : ''}: ${problems.length} problem${problems.length === 1 ? '' : 's'}.`;
  return {
    state, checkedAt, summary, notes,
    problems: [...problems.slice(0, SHOWN_PROBLEMS).map((p) => `${p.kind}: ${p.message}`), ...(problems.length > SHOWN_PROBLEMS ? [`… and ${problems.length - SHOWN_PROBLEMS} more`] : [])],
  };
}

export function createChainCheck(opts: ChainCheckOptions): ChainCheck {
  let last: ChainStatus | undefined;
  let running: Promise<ChainStatus> | undefined;
  const check = async (): Promise<ChainStatus> => {
    const checkedAt = opts.now();
    const fail = (state: ChainState, summary: string): ChainStatus => ({ state, checkedAt, summary, problems: [], notes: [] });
    let sets;
    try {
      sets = findAuditSets(opts.file).filter((s) => s.files.includes(opts.file));
    } catch {
      return fail('unreadable', 'The log cannot be read from this server.');
    }
    const bytes = sets.flatMap((s) => s.files).reduce((n, f) => n + statSync(f).size, 0);
    if (bytes > opts.maxBytes) {
      return fail('too_large', `The log's files hold ${Math.ceil(bytes / MIB)} MiB, more than the ${Math.floor(opts.maxBytes / MIB)} MiB checked here: run npm run admin -- audit verify on the server.`);
    }
    const reports: AuditSetReport[] = [];
    for (const set of sets) reports.push(await verifyAuditSet(set, { keys: opts.keys, anchors: opts.anchors }));
    return statusOf(reports, checkedAt);
  };
  return {
    last: () => last,
    run() {
      running ??= check().catch((err: unknown) => ({
        state: 'unreadable' as const, checkedAt: opts.now(), summary: `The check failed: ${err instanceof Error ? err.message : String(err)}`, problems: [], notes: [],
      })).then((s) => {
        last = s;
        running = undefined;
        return s;
      });
      return running;
    },
  };
}
