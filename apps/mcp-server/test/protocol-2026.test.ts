import { describe, expect, it } from 'vitest';
import { bearer, callTool, listTools, rpc, startMcpServer, useIssuer } from './helpers.ts';

const REVISION = '2026-07-28';
const META = { 'io.modelcontextprotocol/protocolVersion': REVISION, 'io.modelcontextprotocol/clientCapabilities': {} };
let nextId = 1000;

/** A 2026-07-28 request: the envelope in `_meta` and the standard headers that mirror the body. */
function modern(method: string, params: Record<string, unknown> = {}, overrides: { meta?: Record<string, unknown>; headers?: Record<string, string> } = {}) {
  const id = nextId++;
  const headers: Record<string, string> = { 'mcp-protocol-version': REVISION, 'mcp-method': method };
  if (typeof params.name === 'string') headers['mcp-name'] = params.name;
  return {
    id,
    body: { jsonrpc: '2.0', id, method, params: { ...params, _meta: overrides.meta ?? META } },
    headers: { ...headers, ...overrides.headers },
  };
}

describe('MCP 2026-07-28 on the MCP endpoint, through the pipeline', () => {
  const issuer = useIssuer();

  it('[MCP-2026-DISCOVER] serves server/discover to an authenticated caller only, and counts it against the rate limit', async () => {
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url, RATE_LIMIT_PER_MINUTE: '2' });
    const d = modern('server/discover');
    expect((await rpc(s.url, d.body, d.headers)).status).toBe(401);
    const alice = bearer(await issuer.sign({ aud: s.url, sub: 'alice' }));
    const res = await rpc(s.url, d.body, { ...d.headers, ...alice });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json();
    expect(body.id).toBe(d.id);
    expect(body.result.supportedVersions).toEqual([REVISION]);
    expect(body.result.capabilities).toMatchObject({ tools: { listChanged: false } });
    expect(body.result._meta['io.modelcontextprotocol/serverInfo']).toMatchObject({ name: 'mcp-oauth-stack-db' });
    expect(body.result).toMatchObject({ cacheScope: 'private', ttlMs: 30_000 });
    const again = modern('server/discover');
    expect((await rpc(s.url, again.body, { ...again.headers, ...alice })).status).toBe(200);
    const limited = modern('server/discover');
    expect((await rpc(s.url, limited.body, { ...limited.headers, ...alice })).status).toBe(429);
    expect(s.audit().at(-1)).toMatchObject({ decision: 'RATE_LIMITED', identity: 'alice', method: 'server/discover' });
  });

  it('[MCP-2026-CACHE-PRIVATE] tools/list differs per caller, so it is marked cacheScope private; 2025 replies carry no hints', async () => {
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url });
    const viewer = bearer(await issuer.sign({ aud: s.url, sub: 'vic', role: 'viewer', scope: 'db:read' }));
    const admin = bearer(await issuer.sign({ aud: s.url, sub: 'ann', role: 'admin', scope: 'db:admin' }));
    const names = async (who: Record<string, string>) => {
      const l = modern('tools/list');
      const body = await (await rpc(s.url, l.body, { ...l.headers, ...who })).json();
      expect(body.result).toMatchObject({ cacheScope: 'private', ttlMs: 30_000 });
      return (body.result.tools as { name: string }[]).map((t) => t.name).sort();
    };
    const forViewer = await names(viewer);
    const forAdmin = await names(admin);
    expect(forViewer).not.toContain('drop_table');
    expect(forAdmin).toContain('drop_table');
    const legacy = await (await rpc(s.url, listTools(), viewer)).json();
    expect(legacy.result.tools.map((t: { name: string }) => t.name).sort()).toEqual(forViewer);
    expect(legacy.result).not.toHaveProperty('cacheScope');
    expect(legacy.result).not.toHaveProperty('ttlMs');
  });

  it('[MCP-2026-CACHE-PRIVATE] the shared SDK servers answer each of many concurrent callers, on both revisions, with that caller\'s own view', async () => {
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url, RATE_LIMIT_PER_MINUTE: '100000' });
    const callers = [
      { who: bearer(await issuer.sign({ aud: s.url, sub: 'vic', role: 'viewer', scope: 'db:read' })), admin: false },
      { who: bearer(await issuer.sign({ aud: s.url, sub: 'ann', role: 'admin', scope: 'db:admin' })), admin: true },
    ];
    const one = async (i: number) => {
      const { who, admin } = callers[i % 2]!;
      const l = i % 4 < 2 ? modern('tools/list') : { id: undefined, body: listTools(), headers: {} };
      const body = await (await rpc(s.url, l.body, { ...l.headers, ...who })).json();
      if (l.id !== undefined) expect(body.id).toBe(l.id);
      const names = (body.result.tools as { name: string }[]).map((t) => t.name);
      expect(names.includes('drop_table'), `request ${i}`).toBe(admin);
    };
    await Promise.all(Array.from({ length: 60 }, (_, i) => one(i)));
  });

  it('[MCP-2026-META] calls a tool with the envelope, audited ALLOWED; a request without a valid envelope gets -32602 with its id, audited DENIED', async () => {
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url });
    const who = bearer(await issuer.sign({ aud: s.url, sub: 'carol' }));
    const c = modern('tools/call', { name: 'query', arguments: { sql: 'select 1' } });
    const ok = await (await rpc(s.url, c.body, { ...c.headers, ...who })).json();
    expect(ok).toMatchObject({ id: c.id, result: { content: [{ type: 'text', text: 'query ok' }] } });
    expect(s.audit().at(-1)).toMatchObject({ decision: 'ALLOWED', identity: 'carol', tool: 'query' });

    const bad = modern('tools/list', {}, { meta: { 'io.modelcontextprotocol/protocolVersion': REVISION } });
    const res = await rpc(s.url, bad.body, { ...bad.headers, ...who });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ id: bad.id, error: { code: -32602 } });
    expect(s.audit().at(-1)).toMatchObject({ decision: 'DENIED', identity: 'carol', method: 'tools/list' });
  });

  it('[MCP-2026-HEADERS] [MCP-2026-ERROR-ID] refuses Mcp-Method, Mcp-Name or MCP-Protocol-Version that disagree with the body (400, -32020) before the call is allowed', async () => {
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url });
    const who = bearer(await issuer.sign({ aud: s.url, sub: 'dave' }));
    const cases = [
      modern('tools/list', {}, { headers: { 'mcp-method': 'tools/call' } }),
      modern('tools/call', { name: 'query', arguments: { sql: 'select 1' } }, { headers: { 'mcp-name': 'drop_table' } }),
      modern('tools/call', { name: 'query', arguments: { sql: 'select 1' } }, { headers: { 'mcp-protocol-version': '2025-11-25' } }),
    ];
    for (const c of cases) {
      const before = s.audit().length;
      const res = await rpc(s.url, c.body, { ...c.headers, ...who });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ jsonrpc: '2.0', id: c.id, error: { code: -32020 } });
      const lines = s.audit().slice(before);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ decision: 'DENIED', reason: expect.stringMatching(/^protocol: header mismatch/) });
    }
    // The Base64 form of Mcp-Name names the same tool.
    const encoded = modern('tools/call', { name: 'query', arguments: { sql: 'select 1' } }, { headers: { 'mcp-name': `=?base64?${Buffer.from('query').toString('base64')}?=` } });
    expect((await (await rpc(s.url, encoded.body, { ...encoded.headers, ...who })).json()).result.content[0].text).toBe('query ok');
  });

  it('[MCP-2026-404] [MCP-2026-ERROR-ID] answers 404 and -32601 with the request id for removed and unknown methods', async () => {
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url });
    const who = bearer(await issuer.sign({ aud: s.url, sub: 'erin' }));
    for (const method of ['ping', 'initialize', 'logging/setLevel', 'resources/subscribe', 'unknown/method', 'subscriptions/listen']) {
      const m = modern(method);
      const res = await rpc(s.url, m.body, { ...m.headers, ...who });
      expect(res.status, method).toBe(404);
      expect(await res.json(), method).toMatchObject({ id: m.id, error: { code: -32601 } });
    }
  });

  it('[MCP-2026-UNSUPPORTED-VERSION] [MCP-2026-ERROR-ID] refuses an envelope naming a revision not served, listing the ones that are', async () => {
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url });
    const who = bearer(await issuer.sign({ aud: s.url, sub: 'fay' }));
    const m = modern('tools/list', {}, { meta: { ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' }, headers: { 'mcp-protocol-version': '2099-01-01' } });
    const res = await rpc(s.url, m.body, { ...m.headers, ...who });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ id: m.id, error: { code: -32022, data: { supported: [REVISION], requested: '2099-01-01' } } });
    expect(s.audit().at(-1)).toMatchObject({ decision: 'DENIED', reason: 'protocol: unsupported protocol version' });
  });

  it('[MCP-2026-REVISIONS] answers a call the gate refuses with a tool error a 2026-07-28 client accepts (resultType complete), and a 2025 client the same text without it', async () => {
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url });
    const dev = bearer(await issuer.sign({ aud: s.url, sub: 'hal', role: 'developer', scope: 'db:read db:write' }));
    const c = modern('tools/call', { name: 'delete_users', arguments: { ids: [1] } });
    const body = await (await rpc(s.url, c.body, { ...c.headers, ...dev })).json();
    expect(body).toMatchObject({ id: c.id, result: { isError: true, resultType: 'complete', content: [{ type: 'text', text: expect.stringMatching(/^ACCESS DENIED/) }] } });
    const bad = modern('tools/call', { name: 'query', arguments: { sql: 5 } });
    expect((await (await rpc(s.url, bad.body, { ...bad.headers, ...dev })).json()).result).toMatchObject({ isError: true, resultType: 'complete' });
    const legacy = await (await rpc(s.url, callTool('delete_users', { ids: [1] }), dev)).json();
    expect(legacy.result).toMatchObject({ isError: true, content: [{ text: expect.stringMatching(/^ACCESS DENIED/) }] });
    expect(legacy.result).not.toHaveProperty('resultType');
  });

  it('[MCP-2026-REVISIONS] keeps the 2025-11-25 Streamable HTTP checks before the gate: 406 without both Accept types, 415 for a non-JSON body, 202 for a notification', async () => {
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url });
    const who = bearer(await issuer.sign({ aud: s.url, sub: 'ivy' }));
    const c = callTool('query', { sql: 'select 1' });
    const notAcceptable = await rpc(s.url, c, { ...who, accept: 'application/json' });
    expect(notAcceptable.status).toBe(406);
    expect(await notAcceptable.json()).toMatchObject({ id: c.id, error: { code: -32000 } });
    expect(s.audit().at(-1)).toMatchObject({ decision: 'DENIED', reason: expect.stringMatching(/^protocol: Accept/) });
    const text = await rpc(s.url, JSON.stringify(c), { ...who, 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(s.audit().at(-1)).toMatchObject({ decision: 'DENIED', reason: 'protocol: Content-Type must be application/json' });
    expect(s.audit().filter((l) => l.decision === 'ALLOWED')).toHaveLength(0);
    const note = await rpc(s.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, who);
    expect(note.status).toBe(202);
    expect(await note.text()).toBe('');
  });

  it('[MCP-RS-STEP-UP] keeps the 403 insufficient_scope challenge for a 2026-07-28 tools/call', async () => {
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url });
    const dev = bearer(await issuer.sign({ aud: s.url, sub: 'gus', role: 'developer', scope: 'db:read' }));
    const c = modern('tools/call', { name: 'execute_sql', arguments: { sql: 'select 1' } });
    const res = await rpc(s.url, c.body, { ...c.headers, ...dev });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
    // The 2025 path answers the same.
    expect((await rpc(s.url, callTool('execute_sql', { sql: 'select 1' }), dev)).status).toBe(403);
  });

  it('[MCP-2026-ERROR-ID] answers fuzzed envelopes, headers and methods with a JSON-RPC error carrying the request id, never a 5xx', async () => {
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url, RATE_LIMIT_PER_MINUTE: '100000' });
    const who = bearer(await issuer.sign({ aud: s.url, sub: 'fuzz' }));
    // A fixed seed: the same cases on every run.
    let seed = 11;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const metas: unknown[] = [
      {}, [], null, 'x', 7, { ...META, 'io.modelcontextprotocol/protocolVersion': 7 }, { ...META, 'io.modelcontextprotocol/clientCapabilities': [] },
      { ...META, 'io.modelcontextprotocol/clientCapabilities': 'all' }, { ...META, 'io.modelcontextprotocol/protocolVersion': '' },
      { ...META, 'io.modelcontextprotocol/protocolVersion': 'x'.repeat(5000) }, { ...META, 'io.modelcontextprotocol/clientInfo': 5 },
    ];
    const methods = ['tools/list', 'tools/call', 'server/discover', 'ping', 'resources/read', 'a'.repeat(300), '', 'notifications/initialized', 'rpc.discover'];
    const headerValues = [undefined, '', REVISION, '2025-11-25', 'tools/list', '=?base64?@@?=', '=?base64?cXVlcnk=?=', 'x'.repeat(2000)];
    for (let i = 0; i < 120; i++) {
      const id = 5000 + i;
      const method = pick(methods);
      const params: Record<string, unknown> = { _meta: pick(metas) };
      if (rnd() < 0.5) params.name = pick(['query', 'drop_table', 'nope', 5]);
      const headers: Record<string, string> = {};
      for (const h of ['mcp-protocol-version', 'mcp-method', 'mcp-name']) {
        const v = rnd() < 0.3 ? (h === 'mcp-method' ? method : h === 'mcp-protocol-version' ? REVISION : String(params.name)) : pick(headerValues);
        if (v !== undefined) headers[h] = v;
      }
      const res = await rpc(s.url, { jsonrpc: '2.0', id, method, params }, { ...headers, ...who });
      const text = await res.text();
      const label = JSON.stringify({ method: method.slice(0, 20), params, headers }).slice(0, 400);
      expect(res.status, label).toBeLessThan(500);
      if (res.status === 202) continue;
      const body = JSON.parse(text) as { id: unknown; error?: { code: number }; result?: unknown };
      expect(text, label).not.toMatch(/\bat \S+ \(|node_modules/);
      expect(body.id, label).toBe(id);
      expect(body.error ?? body.result, label).toBeDefined();
    }
  });
});
