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

/** (7) only counts when the login driver delivered (nearly) the rate asked for. */
function loginTarget(t: Target, facts: Map<string, number>): Target {
  const done = facts.get('logins-per-second');
  const asked = facts.get('logins-per-second-asked');
  if (done === undefined || asked === undefined || done >= 0.9 * asked) return t;
  return { ...t, met: undefined, detail: `only ${done.toFixed(1)} of ${asked} logins/s were done` };
}

/** The targets listed in bench/README.md, as ratios of rows from this run. */
export function computeTargets(rows: Row[], facts: Map<string, number>): Target[] {
  const r = (k: string) => byKey(rows, k);
  const targets: Target[] = [
    ratio('(2)/(1) req/s: bearer pipeline vs auth off', '≥ 0.85', r('2')?.rps, r('1')?.rps, (x) => x >= 0.85, [r('2')?.cpuPerReq, r('1')?.cpuPerReq]),
    ratio('(2b)/(1) req/s: bearer pipeline on 2026-07-28 vs auth off', '≥ 0.85', r('2b')?.rps, r('1')?.rps, (x) => x >= 0.85, [r('2b')?.cpuPerReq, r('1')?.cpuPerReq]),
    ratio('(2)/(3) req/s: ours vs the SDK stack', '≥ 2.0', r('2')?.rps, r('3')?.rps, (x) => x >= 2, [r('2')?.cpuPerReq, r('3')?.cpuPerReq]),
    ratio('(4 refresh, SQLite)/(5) req/s: ours vs oidc-provider', '≥ 1.5', r('4-refresh')?.rps, r('5')?.rps, (x) => x >= 1.5, [r('4-refresh')?.cpuPerReq, r('5')?.cpuPerReq]),
    ratio('(6) refresh req/s: large / small data set', '≥ 0.90', r('6-refresh-large')?.rps, r('6-refresh-small')?.rps, (x) => x >= 0.9, [r('6-refresh-large')?.cpuPerReq, r('6-refresh-small')?.cpuPerReq]),
    ratio('(6) introspection req/s: large / small data set', '≥ 0.90', r('6-verify-large')?.rps, r('6-verify-small')?.rps, (x) => x >= 0.9, [r('6-verify-large')?.cpuPerReq, r('6-verify-small')?.cpuPerReq]),
    loginTarget(ratio('(7) p99 / (2) p99: logins running vs not', '≤ 2.0', r('7')?.p99, r('2')?.p99, (x) => x <= 2), facts),
  ];
  const rss = facts.get('mcp-rss-mb');
  targets.push(rss === undefined || !Number.isFinite(rss)
    ? { name: 'MCP server RSS after (2) and (7)', value: undefined, shown: '–', goal: '< 200 MB', met: undefined }
    : {
      name: 'MCP server RSS after (2) and (7)', value: rss, shown: `${rss.toFixed(0)} MB`, goal: '< 200 MB', met: rss < 200,
      ...(facts.has('mcp-rss-start-mb') ? { detail: `${facts.get('mcp-rss-start-mb')!.toFixed(0)} MB when ready` } : {}),
    });
  return targets;
}
