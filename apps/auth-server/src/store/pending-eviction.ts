/**
 * Making room in a full pending store fairly (both engines): entries go one at a time from whichever
 * address holds the most at that moment, so a flooding address gives way first and an address with
 * one sign-in in progress only once every address is down to one.
 *
 * Counting entries per address scans the whole store, so a full store makes room for a batch: the
 * entry needed plus 1% of the cap. Under a flood the scan then runs once per hundred new sign-ins,
 * not for each (on SQLite it blocks the event loop for some milliseconds at 10000 entries).
 */
export const evictionBatch = (pending: number, max: number): number => pending - max + 1 + Math.floor(max / 100);

/**
 * How many entries to take from each address. `groups` are the addresses with the most entries, most
 * first (ties: the one whose oldest entry is oldest first); at least `needed` of them, or all.
 */
export function evictionPlan(groups: readonly { key: string; n: number }[], needed: number): Map<string, number> {
  const left = groups.map((g) => ({ ...g }));
  const plan = new Map<string, number>();
  for (let taken = 0; taken < needed; taken++) {
    let top: { key: string; n: number } | undefined;
    for (const g of left) if (g.n > 0 && (!top || g.n > top.n)) top = g;
    if (!top) break;
    top.n--;
    plan.set(top.key, (plan.get(top.key) ?? 0) + 1);
  }
  return plan;
}
