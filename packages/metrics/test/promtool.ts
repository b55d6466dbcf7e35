import { spawnSync } from 'node:child_process';

/**
 * `promtool check metrics` (Debian's prometheus package, installed by .ci/run) on an exposition.
 * Exit 1 is a format error; exit 3 lists lint findings (names, help text, _total on counters),
 * accepted only for prom-client's own process metrics (nodejs_active_handles_total is a gauge
 * named like a counter), never for ours. Undefined where promtool is not installed.
 */
export function promtoolCheck(exposition: string): { ok: boolean; output: string } | undefined {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8', timeout: 20_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  const output = `${r.stdout}${r.stderr}`;
  const findings = output.split('\n').filter((l) => l.trim() !== '');
  const onlyDefaults = findings.every((l) => /^(?:nodejs|process)_/.test(l));
  return { ok: r.status === 0 || (r.status === 3 && onlyDefaults), output };
}

/** The value of one series in an exposition (labels in any order), or undefined when absent. */
export function seriesValue(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const have = new Map([...(m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[2]);
  }
  return undefined;
}
