import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { startAuthServer, type TestAuthServer } from '../../auth-server/test/helpers.ts';
import { signAccessToken } from '../../auth-server/src/services/access-tokens.ts';
import { bearer, callTool, freePort, listTools, rpc, startIssuer, startMcpServer, type TestMcpServer } from './helpers.ts';

type Result = { isError?: boolean; content: { type: string; text: string }[] };

describe('against the real authorization server, with the demo database tools', () => {
  let as: TestAuthServer;
  let s: TestMcpServer;
  const tokenFor = async (role: 'admin' | 'developer' | 'viewer', scope: string, resource = s.url) =>
    (await signAccessToken(as.app.ctx, { sub: `${role}-user`, clientId: 'e2e-client', scope, resource, role })).token;
  const call = async (t: string, name: string, args: Record<string, unknown>): Promise<Result> => {
    const res = await rpc(s.url, callTool(name, args), bearer(t));
    expect(res.status).toBe(200);
    return (await res.json()).result as Result;
  };

  beforeAll(async () => {
    const port = await freePort();
    as = await startAuthServer({ MCP_PUBLIC_ORIGIN: `http://127.0.0.1:${port}` });
    // tools: undefined → the real demo tools over a fresh demo database.
    s = await startMcpServer({ AUTH_ISSUER: as.url, MCP_PORT: String(port), MCP_PUBLIC_URL: `http://127.0.0.1:${port}/mcp` }, { tools: undefined });
  });
  afterAll(async () => {
    await s?.close();
    await as?.close();
  });

  it('[MCP-RS-TOKEN-VALIDATION] [MCP-RS-AUDIENCE] accepts tokens the auth server signs for this resource, and rejects its tokens for another', async () => {
    const res = await rpc(s.url, listTools(), bearer(await tokenFor('admin', 'db:read db:write db:admin')));
    expect(res.status, res.headers.get('www-authenticate') ?? '').toBe(200);
    expect((await res.json()).result.tools).toHaveLength(6);
    const other = await rpc(s.url, listTools(), bearer(await tokenFor('admin', 'db:read', 'http://127.0.0.1:4999/mcp')));
    expect(other.status).toBe(401);
    expect(other.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
  });

  it('refuses SQL injection through every tool argument, or makes it harmless', async () => {
    const admin = await tokenFor('admin', 'db:read db:write db:admin');
    const before = JSON.parse((await call(admin, 'list_tables', {})).content[0]!.text);
    const refused: [string, Record<string, unknown>][] = [
      ['describe_table', { table: 'users; DROP TABLE users' }],
      ['describe_table', { table: "users' OR '1'='1" }],
      ['drop_table', { table: 'users--', confirm: true }],
      ['drop_table', { table: 'sqlite_master', confirm: true }],
      ['delete_users', { ids: ['1 OR 1=1'] }],
      ['delete_users', { ids: [1], where: '1=1' }],
      ['query', { sql: 'SELECT 1; DROP TABLE users' }],
      ['query', { sql: 'DELETE FROM users' }],
      ['query', { sql: 'SELECT 1', max_rows: '1; DROP TABLE users' }],
      ['execute_sql', { sql: 'DELETE FROM orders; DROP TABLE users' }],
      ['execute_sql', { sql: "ATTACH DATABASE '/tmp/x.db' AS x" }],
    ];
    for (const [name, args] of refused) {
      const r = await call(admin, name, args);
      expect(r.isError, `${name} ${JSON.stringify(args)}`).toBe(true);
    }
    // Values travel as bound parameters: a quote-laden name matches nothing and changes nothing.
    const q = await call(admin, 'query', { sql: 'SELECT count(*) AS n FROM users WHERE name = ?', params: ["x' OR '1'='1"] });
    expect(q.isError).toBeFalsy();
    expect(JSON.parse(q.content[0]!.text).rows).toEqual([[0]]);
    const after = JSON.parse((await call(admin, 'list_tables', {})).content[0]!.text);
    expect(after).toEqual(before);
    const decisions = s.audit().map((l) => l.decision);
    expect(decisions).toContain('INVALID_INPUT');
  });
});

describe('revocation feed', () => {
  it('[MCP-RS-TOKEN-VALIDATION] rejects a token whose jti the authorization server lists as revoked (polled)', async () => {
    const issuer = await startIssuer();
    const jti = randomUUID();
    issuer.revoked.push({ jti, expiresAt: Date.now() + 600_000 });
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url, REVOCATION_POLL_SECONDS: '1' });
    const good = bearer(await issuer.sign({ aud: s.url }));
    const revoked = bearer(await issuer.sign({ aud: s.url, jti }));
    let status = 0;
    for (let i = 0; i < 40 && status !== 401; i++) {
      status = (await rpc(s.url, listTools(), revoked)).status;
      if (status !== 401) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(401);
    expect((await rpc(s.url, listTools(), good)).status).toBe(200);
    expect(issuer.seen.some((r) => r.url.startsWith('/revocations?since='))).toBe(true);
    await issuer.close();
  });
});
