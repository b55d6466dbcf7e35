// What the SQL runner remembers about each caller identity between statements: how often its
// statements were stopped in a row, and the cool-down that earns.

/** Stops in a row that cost nothing more than the stopped statement itself. */
export const FREE_STOPS = 2;
const MAX_COOL_DOWN_MS = 10 * 60_000;
/** Identities remembered at most; the least recently seen is forgotten first. */
export const MAX_TRACKED = 10_000;

interface CallerRecord {
  /** Statements stopped in a row (time limit, memory limit, worker died); a finished statement resets it. */
  stops: number;
  coolUntil: number;
}

export interface CallerBook {
  /** Milliseconds before this caller may send a statement again; 0 when it may now. */
  coolDownLeft(owner: string): number;
  /**
   * Records how a statement ended. Returns the cool-down it starts in milliseconds (0 for none):
   * from the third stop in a row, `coolDownMs`, doubling with every further stop.
   */
  finished(owner: string, stopped: boolean): number;
}

export function createCallerBook(opts: { coolDownMs: number; now: () => number }): CallerBook {
  const records = new Map<string, CallerRecord>();
  const live = (owner: string) => {
    const r = records.get(owner);
    const now = opts.now();
    if (r && r.stops === 0 && r.coolUntil <= now) {
      records.delete(owner);
      return undefined;
    }
    return r;
  };
  return {
    coolDownLeft: (owner) => Math.max(0, (live(owner)?.coolUntil ?? 0) - opts.now()),
    finished(owner, stopped) {
      const now = opts.now();
      const r = records.get(owner) ?? { stops: 0, coolUntil: 0 };
      r.stops = stopped ? r.stops + 1 : 0;
      const coolDown = r.stops > FREE_STOPS ? Math.min(MAX_COOL_DOWN_MS, opts.coolDownMs * 2 ** (r.stops - FREE_STOPS - 1)) : 0;
      if (coolDown > 0) r.coolUntil = now + coolDown;
      // Most recently seen last, so the oldest is the first key.
      records.delete(owner);
      records.set(owner, r);
      if (records.size > MAX_TRACKED) records.delete(records.keys().next().value!);
      live(owner);
      return coolDown;
    },
  };
}
