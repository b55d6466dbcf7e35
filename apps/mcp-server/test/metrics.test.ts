import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promtoolCheck, seriesValue } from '../../../packages/metrics/test/promtool.ts';
import { configWarnings, loadMcpConfig } from '../src/config.ts';
import { bearer, callTool, freePort, rpc, startIssuer, startMcpServer, type TestIssuer, type TestMcpServer } from './helpers.ts';

describe('MCP app metrics', () => {
  let issuer: TestIssuer;
  let s: TestMcpServer;
  const token = (claims: Record<string, unknown>) => issuer.sign({ aud: s.url, ...claims });
  const scrape = async () => (await s.app.mcp.metrics.app.render()).body;

  beforeAll(async () => {
    issuer = await startIssuer();
    s = await startMcpServer({ AUTH_ISSUER: issuer.url });
  });
  afterAll(async () => {
    await s.close();
    await issuer.close();
  });

  it('[OPS-METRICS-MCP-COUNTERS] [OPS-METRICS-FORMAT] decisions are counted by server, tool and decision; promtool accepts the exposition', async () => {
    const viewer = await token({ sub: 'v-1', role: 'viewer', scope: 'db:read' });
    expect((await rpc(s.url, callTool('list_tables'), bearer(viewer))).status).toBe(200);
    expect((await rpc(s.url, callTool('list_tables'), bearer(viewer))).status).toBe(200);
    expect((await rpc(s.url, callTool('delete_users', { ids: [1] }), bearer(viewer))).status).toBe(200);
    expect((await rpc(s.url, callTool('list_tables'))).status).toBe(401);

    const text = await scrape();
    expect(seriesValue(text, 'mcp_decisions_total', { server: 'database', tool: 'list_tables', decision: 'ALLOWED', app: 'mcp-server' })).toBe(2);
    expect(seriesValue(text, 'mcp_decisions_total', { server: 'database', tool: 'delete_users', decision: 'DENIED' })).toBe(1);
    expect(seriesValue(text, 'mcp_decisions_total', { decision: 'AUTH_FAILED' })).toBe(1);
    expect(seriesValue(text, 'http_requests_total', { route: '/mcp', method: 'POST', status: '200' })).toBe(3);
    expect(seriesValue(text, 'http_requests_total', { route: '/mcp', method: 'POST', status: '401' })).toBe(1);
    const check = promtoolCheck(text);
    if (check) expect(check.ok, check.output).toBe(true);
  });

  it('[OPS-METRICS-LABELS-BOUNDED] a tool name the caller made up never becomes a label value, nor does the caller', async () => {
    const dev = await token({ sub: 'secret-user-42', role: 'developer', scope: 'db:read db:write' });
    for (const name of ['made_up_tool_1', 'made_up_tool_2']) expect((await rpc(s.url, callTool(name), bearer(dev))).status).toBe(200);
    const text = await scrape();
    expect(text).not.toContain('made_up_tool');
    expect(text).not.toContain('secret-user-42');
    expect(seriesValue(text, 'mcp_decisions_total', { server: 'database', tool: '(tools/call)', decision: 'DENIED' })).toBe(2);
  });
});

describe('MCP app metrics: fetches it depends on', () => {
  it('[OPS-METRICS-MCP-COUNTERS] a JWKS that cannot be fetched is counted', async () => {
    const issuer = await startIssuer();
    const closed = await freePort();
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url, AUTH_JWKS_URL: `http://127.0.0.1:${closed}/jwks` });
    try {
      const t = await issuer.sign({ aud: s.url, role: 'viewer', scope: 'db:read' });
      expect((await rpc(s.url, callTool('list_tables'), bearer(t))).status).toBe(401);
      const text = (await s.app.mcp.metrics.app.render()).body;
      expect(seriesValue(text, 'mcp_auth_fetch_errors_total', { kind: 'jwks' })).toBeGreaterThanOrEqual(1);
    } finally {
      await issuer.close();
    }
  });

  it('[OPS-METRICS-LISTENER] loopback on 9465 by default, off when asked, and a public address is warned about', () => {
    const base = { NODE_ENV: 'test', DATA_DIR: '/tmp/metrics-config-test' };
    expect(loadMcpConfig(base).metrics).toEqual({ host: '127.0.0.1', port: 9465 });
    expect(loadMcpConfig({ ...base, MCP_METRICS_PORT: 'off' }).metrics).toBeUndefined();
    expect(configWarnings(loadMcpConfig({ ...base, METRICS_HOST: '0.0.0.0' })).join('\n')).toMatch(/on MCP_METRICS_PORT\) is served without authentication/);
  });
});
