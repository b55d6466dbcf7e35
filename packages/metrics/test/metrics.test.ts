import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { boundedLabel, createAppMetrics, startMetricsServer } from '../src/index.ts';
import { promtoolCheck, seriesValue } from './promtool.ts';

describe('metrics registry and listener', () => {
  it('[OPS-METRICS-LABELS-BOUNDED] a label keeps its first values and folds any further new one into other', () => {
    const label = boundedLabel(2);
    expect([label('a'), label('b'), label('c'), label('a'), label(undefined)]).toEqual(['a', 'b', 'other', 'a', 'none']);
  });

  it('[OPS-METRICS-FORMAT] the exposition has process metrics and HTTP counts by route, and passes promtool check metrics', async () => {
    const m = createAppMetrics('test-app');
    m.http.observe('/token', 'POST', 200, 0.004);
    m.http.observe('/token', 'POST', 200, 0.002);
    m.counter('test_things_total', 'Things.', ['kind'] as const).inc({ kind: 'x' });
    const { contentType, body } = await m.render();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(seriesValue(body, 'http_requests_total', { route: '/token', method: 'POST', status: '200', app: 'test-app' })).toBe(2);
    expect(seriesValue(body, 'http_request_duration_seconds_count', { route: '/token', method: 'POST' })).toBe(2);
    expect(seriesValue(body, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    const check = promtoolCheck(body);
    if (check) expect(check.ok, check.output).toBe(true);
  });

  it('[OPS-METRICS-LISTENER] serves GET /metrics on its own listener and nothing else', async () => {
    const m = createAppMetrics('test-app');
    const server = await startMetricsServer(m, '127.0.0.1', 0, 'TEST_METRICS_PORT');
    try {
      expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
      const ok = await fetch(`http://${server.address}/metrics`);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('cache-control')).toBe('no-store');
      expect(await ok.text()).toContain('process_cpu_user_seconds_total');
      expect((await fetch(`http://${server.address}/`)).status).toBe(404);
      expect((await fetch(`http://${server.address}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);
    } finally {
      await server.close();
    }
  });

  it('[OPS-METRICS-LISTENER] a taken port is refused with a sentence naming the port setting', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as { port: number }).port;
    try {
      await expect(startMetricsServer(createAppMetrics('x'), '127.0.0.1', port, 'AUTH_METRICS_PORT'))
        .rejects.toThrow(`the metrics listener's address 127.0.0.1:${port} is already in use: choose another AUTH_METRICS_PORT, or set AUTH_METRICS_PORT=off`);
    } finally {
      taken.close();
    }
  });
});
