import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DPOP_SIGNING_ALGS } from '@stack/oauth';
import { createHash } from 'node:crypto';
import { createStaticRevocationList } from '@stack/mcp-auth';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { bearer, callTool, handlerCalls, listTools, rpc, startIssuer, startMcpServer, type TestIssuer, type TestMcpServer } from './helpers.ts';

const REVOKED_JTI = 'revoked-jti-1';

describe('MCP server in OAuth mode over HTTP', () => {
  let issuer: TestIssuer;
  let s: TestMcpServer;
  const token = (claims: Record<string, unknown> = {}) => issuer.sign({ aud: s.url, ...claims });
  const viewer = () => token({ role: 'viewer', scope: 'db:read' });
  const developer = () => token({ sub: 'dev-1', role: 'developer', scope: 'db:read db:write' });
  const admin = () => token({ sub: 'admin-1', role: 'admin', scope: 'db:read db:write db:admin' });

  beforeAll(async () => {
    issuer = await startIssuer();
    s = await startMcpServer({ AUTH_ISSUER: issuer.url, MCP_ALLOWED_ORIGINS: 'https://app.example' }, { revocations: createStaticRevocationList([REVOKED_JTI]) });
  });
  afterAll(async () => {
    await s.close();
    await issuer.close();
  });

  it('[MCP-RS-PRM] [MCP-RS-PRM-DISCOVERY] [MCP-RS-NO-OFFLINE-ACCESS] serves RFC 9728 metadata at the path-inserted and the root URL', async () => {
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const res = await fetch(`${s.base}${path}`);
      expect(res.status).toBe(200);
      const prm = await res.json();
      expect(prm).toEqual({
        resource: s.url,
        authorization_servers: [issuer.url],
        scopes_supported: ['db:read', 'db:write', 'db:admin'],
        bearer_methods_supported: ['header'],
        resource_name: 'MCP database tools',
        dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGS],
        dpop_bound_access_tokens_required: false,
      });
      expect(prm.scopes_supported).not.toContain('offline_access');
    }
  });

  it('[MCP-RS-NO-ERROR-WITHOUT-TOKEN] [MCP-RS-PRM-DISCOVERY] [MCP-RS-SCOPE-CHALLENGE] answers a request without a token with 401, resource_metadata and scope, and no error code', async () => {
    const res = await rpc(s.url, listTools());
    expect(res.status).toBe(401);
    const www = res.headers.get('www-authenticate');
    const params = `resource_metadata="${s.base}/.well-known/oauth-protected-resource/mcp", scope="db:read db:write db:admin"`;
    // Both schemes it accepts (RFC 9449 §7.1), each pointing at the metadata.
    expect(www).toBe(`Bearer ${params}, DPoP algs="${DPOP_SIGNING_ALGS.join(' ')}", ${params}`);
    expect(www).not.toMatch(/error=/);
    expect(www).not.toMatch(/offline_access/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(s.audit().at(-1)).toMatchObject({ decision: 'AUTH_FAILED', reason: 'no access token was sent' });
  });

  const bad: [string, () => Promise<string>][] = [
    ['an expired token', () => token({ exp: Math.floor(Date.now() / 1000) - 600, iat: Math.floor(Date.now() / 1000) - 900 })],
    ['a token that is not yet valid (nbf)', () => token({ nbf: Math.floor(Date.now() / 1000) + 600 })],
    ['a token from another issuer', () => token({ iss: 'https://evil.example' })],
    ['a token with alg none', async () => {
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const now = Math.floor(Date.now() / 1000);
      return `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ iss: issuer.url, aud: s.url, sub: 'x', client_id: 'c', scope: 'db:read', role: 'admin', iat: now, exp: now + 60, jti: 'j' })}.`;
    }],
    ['an HS256 token signed with the public key', async () => {
      const pem = Buffer.from(JSON.stringify(issuer.publicJwk));
      return token({}).then(() => issuer.sign({ aud: s.url }, { alg: 'HS256', key: new Uint8Array(pem) }));
    }],
    ['a token with an unknown kid', () => issuer.sign({ aud: s.url }, { header: { kid: 'unknown-kid' } })],
    ['a revoked token (jti on the revocation list)', () => token({ jti: REVOKED_JTI })],
    ['a token with typ JWT instead of at+jwt', () => issuer.sign({ aud: s.url }, { header: { typ: 'JWT' } })],
  ];
  it.each(bad)('[MCP-RS-TOKEN-VALIDATION] rejects %s with 401 invalid_token', async (_name, make) => {
    const res = await rpc(s.url, listTools(), bearer(await make()));
    expect(res.status).toBe(401);
    const www = res.headers.get('www-authenticate') ?? '';
    expect(www).toMatch(/^Bearer error="invalid_token"/);
    expect(www).toContain(`resource_metadata="${s.base}/.well-known/oauth-protected-resource/mcp"`);
    expect((await res.json()).error).toBe('invalid_token');
    expect(s.audit().at(-1)).toMatchObject({ decision: 'AUTH_FAILED' });
  });

  it('[MCP-RS-AUDIENCE] rejects a token issued for another resource (RFC 8707) with 401 invalid_token', async () => {
    for (const aud of ['http://127.0.0.1:1/mcp', `${s.base}/other`, [`${s.base}/other`]]) {
      const res = await rpc(s.url, listTools(), bearer(await token({ aud })));
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    }
  });

  it('rejects a malformed Authorization header with 401 invalid_token', async () => {
    const res = await rpc(s.url, listTools(), { authorization: 'Basic dXNlcjpwYXNz' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });

  it('shows each role only the tools it may call in tools/list', async () => {
    const names = async (t: string) => {
      const res = await rpc(s.url, listTools(), bearer(t));
      expect(res.status).toBe(200);
      return ((await res.json()).result.tools as { name: string }[]).map((x) => x.name).sort();
    };
    expect(await names(await viewer())).toEqual(['describe_table', 'list_tables', 'query']);
    expect(await names(await developer())).toEqual(['describe_table', 'execute_sql', 'list_tables', 'query']);
    expect(await names(await admin())).toEqual(['delete_users', 'describe_table', 'drop_table', 'execute_sql', 'list_tables', 'query']);
    // Scopes filter too: a developer token carrying only db:read sees only the read tools.
    expect(await names(await token({ role: 'developer', scope: 'db:read' }))).toEqual(['describe_table', 'list_tables', 'query']);
  });

  it('answers a call the role forbids with an ACCESS DENIED tool error and audits DENIED', async () => {
    const res = await rpc(s.url, callTool('delete_users', { ids: [1] }), bearer(await developer()));
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.result.isError).toBe(true);
    expect(body.result.content[0].text).toBe('ACCESS DENIED\nTool: delete_users\nRequired role: admin\nYour role: developer');
    expect(s.audit().at(-1)).toMatchObject({ decision: 'DENIED', tool: 'delete_users', role: 'developer', identity: 'dev-1', client: 'client-1', args: ['ids=[redacted]'] });
  });

  it('[MCP-RS-STEP-UP] answers a call without the needed scope with 403 insufficient_scope naming every scope it needs', async () => {
    let res = await rpc(s.url, callTool('execute_sql', { sql: 'select 1' }), bearer(await token({ role: 'developer', scope: 'db:read' })));
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toMatch(
      new RegExp(`^Bearer error="insufficient_scope", scope="db:write", resource_metadata="${s.base}/.well-known/oauth-protected-resource/mcp"`),
    );
    res = await rpc(s.url, callTool('drop_table', { table: 't' }), bearer(await token({ role: 'admin', scope: 'db:read db:write' })));
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="insufficient_scope", scope="db:admin", resource_metadata=/);
    expect(s.audit().at(-1)).toMatchObject({ decision: 'DENIED', tool: 'drop_table', reason: 'insufficient scope: needs db:admin' });
  });

  it('honours the scope hierarchy: db:admin alone satisfies read tools', async () => {
    const res = await rpc(s.url, callTool('list_tables'), bearer(await token({ role: 'admin', scope: 'db:admin' })));
    expect((await res.json()).result.content[0].text).toBe('list_tables ok');
  });

  it('[MCP-RS-NO-PASSTHROUGH] runs an allowed call; the handler gets the identity but never the token, and no outbound request carries it', async () => {
    const t = await admin();
    const res = await rpc(s.url, callTool('describe_table', { table: 'users' }), bearer(t));
    expect(res.status).toBe(200);
    expect((await res.json()).result).toEqual({ content: [{ type: 'text', text: 'describe_table ok' }] });
    const call = handlerCalls.at(-1)!;
    expect(call.ctx.identity).toMatchObject({ kind: 'user', subject: 'admin-1', role: 'admin', clientId: 'client-1' });
    expect(typeof call.ctx.requestId).toBe('string');
    expect(JSON.stringify(call)).not.toContain(t);
    expect(JSON.stringify(call)).not.toContain(t.split('.')[2]);
    expect(issuer.seen.length).toBeGreaterThan(0);
    for (const r of issuer.seen) {
      expect(r.headers.authorization).toBeUndefined();
      expect(JSON.stringify(r)).not.toContain(t.split('.')[2]);
    }
    const line = s.audit().at(-1)!;
    expect(line).toMatchObject({ decision: 'ALLOWED', tool: 'describe_table', request_id: call.ctx.requestId, address: '127.0.0.1' });
    expect(JSON.stringify(s.audit())).not.toContain(t.split('.')[2]);
  });

  it('refuses invalid tool arguments before the handler runs, audited as INVALID_INPUT without the values', async () => {
    const before = handlerCalls.length;
    const res = await rpc(s.url, callTool('describe_table', { table: "x'; drop table users; --".repeat(10), extra: 'secret-value' }), bearer(await admin()));
    const body = await res.json();
    expect(body.result.isError).toBe(true);
    expect(body.result.content[0].text).toMatch(/^Invalid arguments for tool describe_table: /);
    expect(handlerCalls.length).toBe(before);
    const line = s.audit().at(-1)!;
    expect(line).toMatchObject({ decision: 'INVALID_INPUT', tool: 'describe_table' });
    expect(JSON.stringify(line)).not.toContain('secret-value');
    expect(JSON.stringify(line)).not.toContain('drop table');
  });

  it('turns a failing handler into a generic tool error and an ERROR audit line, leaking nothing', async () => {
    const res = await rpc(s.url, callTool('execute_sql', { sql: 'boom' }), bearer(await admin()));
    const body = await res.json();
    expect(body.result.isError).toBe(true);
    expect(body.result.content[0].text).toMatch(/^The tool failed unexpectedly \(request id [0-9a-f-]{36}\)\.$/);
    expect(JSON.stringify(body)).not.toContain('/etc/passwd');
    expect(s.audit().slice(-2).map((l) => l.decision)).toEqual(['ALLOWED', 'ERROR']);
  });

  it('answers an unknown tool with a JSON-RPC invalid params error', async () => {
    const res = await rpc(s.url, callTool('rm_rf'), bearer(await admin()));
    expect(res.status).toBe(200);
    expect((await res.json()).error).toMatchObject({ code: -32602 });
    expect(s.audit().at(-1)).toMatchObject({ decision: 'DENIED', reason: 'unknown tool' });
  });

  it('[MCP-RS-ORIGIN] rejects a request from an Origin that is not allowed, accepts listed and absent Origins', async () => {
    const t = await viewer();
    let res = await rpc(s.url, listTools(), { ...bearer(t), origin: 'https://evil.example' });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBeNull();
    expect(s.audit().at(-1)).toMatchObject({ decision: 'DENIED', reason: 'origin not allowed: https://evil.example' });
    res = await rpc(s.url, listTools(), { ...bearer(t), origin: 'https://app.example' });
    expect(res.status).toBe(200);
    res = await rpc(s.url, listTools(), { ...bearer(t), origin: s.base });
    expect(res.status).toBe(200);
    // Origin is checked before authentication: a rebinding page learns nothing about tokens.
    res = await rpc(s.url, listTools(), { origin: 'http://attacker.localhost' });
    expect(res.status).toBe(403);
  });

  it('answers malformed JSON-RPC with JSON-RPC errors, never a 5xx', async () => {
    const t = bearer(await viewer());
    const cases: [unknown, number][] = [
      ['{not json', -32700],
      ['[]', -32600],
      [[listTools(), listTools()], -32600],
      [{ hello: 'world' }, -32600],
      [{ jsonrpc: '1.0', id: 1, method: 'tools/list' }, -32600],
      ['"just a string"', -32600],
    ];
    for (const [body, code] of cases) {
      const res = await rpc(s.url, body, t);
      expect(res.status).toBe(400);
      expect((await res.json()).error.code).toBe(code);
    }
    const res = await rpc(s.url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 42 } }, t);
    expect(res.status).toBeLessThan(500);
    expect((await res.json()).error.code).toBe(-32602);
  });

  it('answers GET and DELETE on the stateless endpoint with 405', async () => {
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(s.url, { method, headers: bearer(await viewer()) });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
    }
  });

  it('sets security headers on every response, including errors and MCP responses', async () => {
    const responses = [
      await rpc(s.url, listTools()),
      await rpc(s.url, listTools(), bearer(await viewer())),
      await fetch(`${s.base}/health`),
      await fetch(`${s.base}/nope`),
    ];
    for (const res of responses) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options')).toBe('DENY');
    }
    expect(responses[3]!.status).toBe(404);
  });

  it('lists and calls tools with the official SDK client (Streamable HTTP, static bearer token)', async () => {
    const t = await developer();
    const client = new Client({ name: 'test-client', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(s.url), { requestInit: { headers: bearer(t) } });
    await client.connect(transport);
    const { tools } = await client.listTools();
    expect(tools.map((x) => x.name).sort()).toEqual(['describe_table', 'execute_sql', 'list_tables', 'query']);
    const schema = tools.find((x) => x.name === 'describe_table')!.inputSchema;
    expect(schema.properties).toHaveProperty('table');
    const result = await client.callTool({ name: 'query', arguments: { sql: 'select 1' } });
    expect(result.content).toEqual([{ type: 'text', text: 'query ok' }]);
    const denied = await client.callTool({ name: 'drop_table', arguments: { table: 'users' } });
    expect(denied.isError).toBe(true);
    expect((denied.content as { text: string }[])[0]!.text).toContain('ACCESS DENIED');
    await client.close();
  });

  it('never writes a token into the audit log', () => {
    const text = JSON.stringify(s.audit());
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
    // Every line carries the hash of the one before it.
    const lines = s.audit();
    for (let i = 1; i < lines.length; i++) {
      const prevLine = JSON.stringify(lines[i - 1]);
      expect(lines[i]!.prev).toBe(createHash('sha256').update(prevLine).digest('hex'));
    }
  });
});
