import type { Row, Target } from './report.ts';

const byKey = (rows: Row[], key: string) => rows.find((r) => r.key === key)?.result;

const usable = (a: number | undefined, b: number | undefined): a is number =>
  a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b !== 0;

/** a/b against the goal; `cpu` gives the CPU µs per request of a and b (the ratio is inverted: less CPU is faster). */
function ratio(name: string, goal: string, a: number | undefined, b: number | undefined, ok: (x: number) => boolean, cpu?: [number | undefined, number | undefined]): Target {
  const c = cpu && usable(cpu[1], cpu[0]) ? cpu[1] / cpu[0]! : undefined;
  const cpuPart = c === undefined ? undefined : { shown: `${c.toFixed(2)}×`, met: ok(c) };
  if (!usable(a, b)) return { name, value: undefined, shown: '–', goal, met: undefined, cpu: cpuPart };
  const x = a / b!;
  return { name, value: x, shown: `${x.toFixed(2)}×`, goal, met: ok(x), cpu: cpuPart };
}

/** a − b in milliseconds against the goal (latency added by a stage in front of the same server). */
function added(name: string, goal: string, a: number | undefined, b: number | undefined, ok: (x: number) => boolean): Target {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b)) return { name, value: undefined, shown: '–', goal, met: undefined };
  const x = a - b;
  return { name, value: x, shown: `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)} ms`, goal, met: ok(x) };
}

/** The CPU ratio shown, without a verdict: it answers another question than the target's. */
const withCpuShownOnly = (t: Target): Target => (t.cpu ? { ...t, cpu: { ...t.cpu, met: undefined } } : t);
/** A ratio reported without a goal: its verdicts are dropped, the table says why. */
const informational = (t: Target): Target => ({ ...withCpuShownOnly(t), met: undefined, informational: true });

/** (7) only counts when the login driver delivered (nearly) the rate asked for. */
function loginTarget(t: Target, facts: Map<string, number>): Target {
  const done = facts.get('logins-per-second');
  const asked = facts.get('logins-per-second-asked');
  if (done === undefined || asked === undefined || done >= 0.9 * asked) return t;
  return { ...t, met: undefined, detail: `only ${done.toFixed(1)} of ${asked} logins/s were done` };
}

/** One bearer round and the DPoP round right after it, on the same server: CPU µs per request of each. */
export interface CpuPair {
  bearer: number;
  dpop: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * (2d)/(2) by CPU from the alternating rounds run after both rows: the median of the per-pair
 * ratios. Each ratio compares two rounds seconds apart, so drift in the machine's load slower than
 * a pair cancels within it, and the median drops the pairs a burst of other work hit on one side
 * only. (A ratio of the two medians could take them from different moments, which is what the
 * rows' own ratio suffers from.) The rows' ratio is shown beside it.
 */
function dpopTarget(pairs: CpuPair[], d: number | undefined, b: number | undefined): Target {
  const name = '(2d)/(2) server CPU per call: DPoP vs bearer';
  const rows = usable(d, b) ? `; rows (2d)/(2) ${(d / b!).toFixed(2)}×` : '';
  const ratios = pairs.map((p) => p.dpop / p.bearer).filter(Number.isFinite);
  if (ratios.length === 0 || ratios.length < pairs.length) return { name, value: undefined, shown: '–', goal: '≤ 1.30', met: undefined, ...(rows ? { detail: rows.slice(2) } : {}) };
  const x = median(ratios);
  return {
    name, value: x, shown: `${x.toFixed(2)}×`, goal: '≤ 1.30', met: x <= 1.3,
    detail: `median of ${ratios.length} alternating pairs: ${ratios.map((r) => r.toFixed(2)).join(', ')}${rows}`,
  };
}

/** The targets listed in bench/README.md, as ratios of rows (and the (2d)/(2) pairs) from this run. */
export function computeTargets(rows: Row[], facts: Map<string, number>, dpopPairs: CpuPair[] = []): Target[] {
  const r = (k: string) => byKey(rows, k);
  const targets: Target[] = [
    ratio('(2)/(1) req/s: bearer pipeline vs auth off', '≥ 0.85', r('2')?.rps, r('1')?.rps, (x) => x >= 0.85, [r('2')?.cpuPerReq, r('1')?.cpuPerReq]),
    ratio('(2b)/(1) req/s: bearer pipeline on 2026-07-28 vs auth off', '≥ 0.85', r('2b')?.rps, r('1')?.rps, (x) => x >= 0.85, [r('2b')?.cpuPerReq, r('1')?.cpuPerReq]),
    // Inverted by design: (2d)/(2) by CPU is the extra server CPU a DPoP proof costs per call.
    dpopTarget(dpopPairs, r('2d')?.cpuPerReq, r('2')?.cpuPerReq),
    ratio('(2)/(3) req/s: ours vs the SDK stack', '≥ 2.0', r('2')?.rps, r('3')?.rps, (x) => x >= 2, [r('2')?.cpuPerReq, r('3')?.cpuPerReq]),
    ratio('(4 refresh, SQLite)/(5) req/s: ours vs oidc-provider', '≥ 1.5', r('4-refresh')?.rps, r('5')?.rps, (x) => x >= 1.5, [r('4-refresh')?.cpuPerReq, r('5')?.cpuPerReq]),
    ratio('(6) refresh req/s: large / small data set', '≥ 0.90', r('6-refresh-large')?.rps, r('6-refresh-small')?.rps, (x) => x >= 0.9, [r('6-refresh-large')?.cpuPerReq, r('6-refresh-small')?.cpuPerReq]),
    ratio('(6) introspection req/s: large / small data set', '≥ 0.90', r('6-verify-large')?.rps, r('6-verify-small')?.rps, (x) => x >= 0.9, [r('6-verify-large')?.cpuPerReq, r('6-verify-small')?.cpuPerReq]),
    loginTarget(ratio('(7) p99 / (2) p99: logins running vs not', '≤ 2.0', r('7')?.p99, r('2')?.p99, (x) => x <= 2), facts),
    // Both put server-everything beside the load generator on CPU 0; only the gateway differs. By CPU,
    // (g2-split) counts the gateway and server-everything and (g1-split) server-everything alone: that
    // is the cost of the two processes together (the shared-core question), shown without a verdict.
    withCpuShownOnly(ratio('(g2-split)/(g1-split) req/s: the gateway on its own core, as deployed', '≥ 0.70', r('g2-split')?.rps, r('g1-split')?.rps, (x) => x >= 0.7, [r('g2-split')?.cpuPerReq, r('g1-split')?.cpuPerReq])),
    informational(ratio('(g2)/(g1) req/s: gateway and server-everything sharing one core vs server-everything alone', 'no target: see README', r('g2')?.rps, r('g1')?.rps, () => true, [r('g2')?.cpuPerReq, r('g1')?.cpuPerReq])),
    // At 1 connection, one call at a time: at 10 the p50s mostly measure queueing for the CPU the processes share.
    added('(g2-1c) p50 − (g1-1c) p50: latency our gateway adds, 1 connection', '≤ 1.0 ms', r('g2-1c')?.p50, r('g1-1c')?.p50, (x) => x <= 1),
    // By CPU: each side counts its bridge and the server-everything child it runs.
    ratio('(g3)/(g4) req/s: our gateway vs mcp-proxy, stdio upstream', '> 1.00', r('g3')?.rps, r('g4')?.rps, (x) => x > 1, [r('g3')?.cpuPerReq, r('g4')?.cpuPerReq]),
  ];
  const rss = facts.get('mcp-rss-mb');
  targets.push(rss === undefined || !Number.isFinite(rss)
    ? { name: 'MCP server RSS after (2) and (7)', value: undefined, shown: '–', goal: '< 200 MB', met: undefined }
    : {
      name: 'MCP server RSS after (2) and (7)', value: rss, shown: `${rss.toFixed(0)} MB`, goal: '< 200 MB', met: rss < 200,
      ...(facts.has('mcp-rss-start-mb') ? { detail: `${facts.get('mcp-rss-start-mb')!.toFixed(0)} MB when ready` } : {}),
    });
  const peak = facts.get('mcp-rss-peak-mb');
  targets.push(peak === undefined
    ? { name: 'MCP server peak RSS through the run (every instance)', value: undefined, shown: '–', goal: '< 200 MB', met: undefined }
    : { name: 'MCP server peak RSS through the run (every instance)', value: peak, shown: `${peak.toFixed(0)} MB`, goal: '< 200 MB', met: peak < 200 });
  return targets;
}
