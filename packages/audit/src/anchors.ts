/**
 * An anchor: where a chain stood at a moment, recorded outside the log (in the app's database, and
 * optionally on stdout for a collector). Lines cut off the end, or a file swapped for another, no
 * longer reach the anchored line, which the log alone could never show.
 */
export interface AuditAnchor {
  /** The log's name (its configured path; host:path on a database several hosts share): which chain a missing or replaced file should hold. */
  log: string;
  chain: string;
  /** The last line written when the anchor was taken. */
  seq: number;
  mac: string;
  /** The file that line was in when anchored (later renamed by rotation: informational). */
  file: string;
  /** Unix ms. */
  at: number;
}

/** Where anchors are kept: one row per chain, moved forward (never back) as the chain grows. */
export interface AuditAnchorStore {
  /** The anchor of one chain. */
  latest(chain: string): Promise<AuditAnchor | undefined>;
  /** The most recently anchored chain of a log path. */
  latestForLog(log: string): Promise<AuditAnchor | undefined>;
  /** Records an anchor; an older one (lower seq) than the stored one is ignored. */
  save(anchor: AuditAnchor): Promise<void>;
}

/** Anchors in memory (tests, and logs whose app has no database). */
export function memoryAnchorStore(): AuditAnchorStore & { all(): AuditAnchor[] } {
  const rows = new Map<string, AuditAnchor>();
  return {
    async latest(chain) {
      return rows.get(chain);
    },
    async latestForLog(log) {
      let best: AuditAnchor | undefined;
      for (const a of rows.values()) if (a.log === log && (!best || a.at > best.at || (a.at === best.at && a.seq > best.seq))) best = a;
      return best;
    },
    async save(a) {
      const old = rows.get(a.chain);
      if (!old || a.seq > old.seq) rows.set(a.chain, { ...a });
    },
    all: () => [...rows.values()],
  };
}
