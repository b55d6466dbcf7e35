// The compose profile `observability` checked without Docker: Prometheus's configuration with
// promtool, its scrape targets against the services and the apps' metrics ports, and every metric
// the Grafana dashboard queries against the metrics the apps really register.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp as buildAuthApp } from '../../apps/auth-server/src/app.ts';
import { loadAuthConfig } from '../../apps/auth-server/src/config.ts';
import { buildApp as buildMcpApp } from '../../apps/mcp-server/src/app.ts';
import { loadMcpConfig } from '../../apps/mcp-server/src/config.ts';
import { loadCompose, read } from './deploy-files.ts';

const compose = loadCompose();
const dirs: string[] = [];
const tempDir = () => { const d = mkdtempSync(join(tmpdir(), 'observability-')); dirs.push(d); return d; };
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** Metric names an exposition declares (# TYPE lines), with a histogram's _bucket, _sum and _count. */
function declaredNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(m[1]!);
    if (m[2] === 'histogram' || m[2] === 'summary') for (const s of ['_bucket', '_sum', '_count']) names.add(`${m[1]!}${s}`);
  }
  return names;
}

describe('compose profile observability', () => {
  it('[OPS-METRICS-DASHBOARD] Prometheus\'s configuration is valid and scrapes each app service on its metrics port', () => {
    const check = spawnSync('promtool', ['check', 'config', 'docker/observability/prometheus.yml'], { encoding: 'utf8', timeout: 20_000 });
    if (!(check.error && (check.error as NodeJS.ErrnoException).code === 'ENOENT')) expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    const prom = parse(read('docker/observability/prometheus.yml')) as { scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
    const targets = Object.fromEntries(prom.scrape_configs.map((j) => [j.job_name, j.static_configs.flatMap((c) => c.targets)]));
    const base = { NODE_ENV: 'test', DATA_DIR: tempDir() };
    expect(targets).toEqual({
      'auth-server': [`auth-server:${loadAuthConfig(base).metrics!.port}`],
      'mcp-server': [`mcp-server:${loadMcpConfig(base).metrics!.port}`],
    });
    for (const name of ['auth-server', 'mcp-server']) {
      const s = compose.services[name]!;
      expect(s.environment?.METRICS_HOST, `${name} listens for Prometheus on the compose network`).toBe('0.0.0.0');
      expect((s.ports ?? []).join(' '), `${name} does not publish its metrics port`).not.toMatch(/946[45]/);
    }
    for (const name of ['prometheus', 'grafana']) {
      const s = compose.services[name]!;
      expect(s.profiles).toEqual(['observability']);
      for (const p of s.ports ?? []) expect(p, `${name} is published on loopback only`).toMatch(/^127\.0\.0\.1:/);
    }
  });

  it('[OPS-METRICS-DASHBOARD] every metric the dashboard queries is one the apps register, through the provisioned datasource', async () => {
    const dir = tempDir();
    const auth = await buildAuthApp(loadAuthConfig({ NODE_ENV: 'test', DATA_DIR: join(dir, 'auth'), LOG_LEVEL: 'silent', REDIS_URL: 'redis://127.0.0.1:6379', REDIS_KEY_PREFIX: `obs-${process.pid}:` }), { logger: false });
    const mcp = await buildMcpApp(loadMcpConfig({ NODE_ENV: 'test', DATA_DIR: join(dir, 'mcp'), LOG_LEVEL: 'silent', REVOCATION_POLL_SECONDS: '0' }), { logger: false });
    let names: Set<string>;
    try {
      names = new Set([
        ...declaredNames((await auth.ctx.metrics.app.render()).body),
        ...declaredNames((await mcp.mcp.metrics.app.render()).body),
        'up', // Prometheus's own per-target series
      ]);
    } finally {
      await auth.close();
      await mcp.close();
    }
    const datasource = parse(read('docker/observability/grafana/provisioning/datasources/prometheus.yml')) as { datasources: { uid: string; url: string }[] };
    const uid = datasource.datasources[0]!.uid;
    expect(datasource.datasources[0]!.url).toBe('http://prometheus:9090');
    const dashboard = JSON.parse(readFileSync('docker/observability/grafana/dashboards/mcp-oauth-stack.json', 'utf8')) as { panels: { title: string; datasource: { uid: string }; targets: { expr: string; datasource: { uid: string } }[] }[] };
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(10);
    const PROMQL = new Set(['sum', 'by', 'rate', 'increase', 'topk', 'histogram_quantile', 'le']);
    for (const panel of dashboard.panels) {
      expect(panel.datasource.uid, panel.title).toBe(uid);
      for (const t of panel.targets) {
        expect(t.datasource.uid, panel.title).toBe(uid);
        // Identifiers outside label matchers and `by (...)` lists that are not PromQL words are metric names.
        const bare = t.expr.replace(/\{[^}]*\}/g, '').replace(/by \([^)]*\)/g, '').replace(/\[[^\]]*\]/g, '');
        const used = [...bare.matchAll(/[a-z_][a-z0-9_]*/g)].map((m) => m[0]).filter((w) => !PROMQL.has(w));
        expect(used.length, `${panel.title}: ${t.expr}`).toBeGreaterThan(0);
        for (const name of used) expect(names.has(name), `${panel.title}: ${name} is not a registered metric`).toBe(true);
      }
    }
  });
});
