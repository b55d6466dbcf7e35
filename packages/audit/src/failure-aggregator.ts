import type { AuditSink } from './audit-log.ts';
import type { AuditEvent } from './clean.ts';

export interface FailureAggregatorOptions {
  sink: AuditSink;
  /** Length of one interval: summaries are written, and counting starts over, this often. */
  intervalMs: number;
  /** Failures of one kind from one address written in full per interval before they are only counted (default 10). */
  inFull?: number;
  /** Addresses tracked per interval; failures from further ones are counted together (default 1000). */
  maxAddresses?: number;
  /** Full lines per interval from all addresses together; beyond it everything is only counted (default 1000). */
  maxFullLines?: number;
  now?: () => number;
  /** Sees every failure, written in full or only counted (metrics count them all). */
  onFailure?: (event: AuditEvent) => void;
}

interface Counts {
  full: number;
  counted: number;
}

// Kinds come from code (a handful), but the map is bounded anyway.
const MAX_KINDS = 16;
const OTHER = '(other addresses)';

/**
 * Unauthenticated failures (bad /authorize requests, failed client authentication, MCP requests
 * without valid credentials) cost the sender nothing, so each one cannot cost a line. Per address
 * and kind, the first few of an interval are written in full; the rest are counted and written as
 * one `audit.failures_summarized` line per address at the end of the interval (and on close).
 * Memory is bounded: at most maxAddresses addresses, then one shared bucket.
 */
export class FailureAggregator {
  private readonly opts: Required<Omit<FailureAggregatorOptions, 'now' | 'onFailure'>> & Pick<FailureAggregatorOptions, 'onFailure'> & { now: () => number };
  private readonly byAddress = new Map<string, Map<string, Counts>>();
  private readonly other = new Map<string, Counts>();
  private fullLines = 0;
  private since: number;
  private readonly timer: NodeJS.Timeout;

  constructor(opts: FailureAggregatorOptions) {
    this.opts = { inFull: 10, maxAddresses: 1000, maxFullLines: 1000, now: Date.now, ...opts };
    this.since = this.opts.now();
    this.timer = setInterval(() => this.flush(), opts.intervalMs);
    this.timer.unref();
  }

  /** Records one failure of `kind` from `address` (its limit key); writes `event` if it is one of the first. */
  write(address: string, kind: string, event: AuditEvent): void {
    this.opts.onFailure?.(event);
    let kinds = this.byAddress.get(address);
    if (!kinds && this.byAddress.size < this.opts.maxAddresses) {
      kinds = new Map();
      this.byAddress.set(address, kinds);
    }
    const counts = bump(kinds ?? this.other, kind);
    if (kinds && counts.full < this.opts.inFull && this.fullLines < this.opts.maxFullLines) {
      counts.full++;
      this.fullLines++;
      this.opts.sink.write(event);
    } else {
      counts.counted++;
    }
  }

  /** Writes one summary line per address with failures that were only counted, and starts a new interval. */
  flush(): void {
    const now = this.opts.now();
    const summary = (address: string, kinds: Map<string, Counts>) => {
      const counted = [...kinds].filter(([, c]) => c.counted > 0);
      if (counted.length === 0) return;
      this.opts.sink.write({
        event: 'audit.failures_summarized',
        address,
        count: counted.reduce((n, [, c]) => n + c.counted, 0),
        kinds: counted.map(([k, c]) => `${k}=${c.counted}`),
        from: new Date(this.since).toISOString(),
        to: new Date(now).toISOString(),
        decision: 'deny',
        reason: 'failures beyond the first of each kind in this interval, counted instead of written',
      });
    };
    for (const [address, kinds] of this.byAddress) summary(address, kinds);
    summary(OTHER, this.other);
    this.byAddress.clear();
    this.other.clear();
    this.fullLines = 0;
    this.since = now;
  }

  /** Writes what is still counted; call before closing the audit log. */
  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}

function bump(kinds: Map<string, Counts>, kind: string): Counts {
  const key = kinds.has(kind) || kinds.size < MAX_KINDS ? kind : 'other';
  let c = kinds.get(key);
  if (!c) {
    c = { full: 0, counted: 0 };
    kinds.set(key, c);
  }
  return c;
}
