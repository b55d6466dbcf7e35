import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { startStack, PASSWORD, type Stack } from './helpers/stack.ts';
import { TestOAuthProvider } from './helpers/sdk-oauth-provider.ts';

/** Connects as a real MCP client would: 401 → discovery → registration → browser → token → reconnect. */
async function connect(stack: Stack, provider: TestOAuthProvider): Promise<Client> {
  const url = new URL(stack.mcp.url);
  const client = new Client({ name: 'e2e', version: '1.0.0' });
  try {
    await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
    return client;
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
  }
  const transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
  await transport.finishAuth(provider.takeCode());
  const authed = new Client({ name: 'e2e', version: '1.0.0' });
  await authed.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
  return authed;
}

describe('official MCP SDK client through the whole stack', () => {
  let stack: Stack;
  beforeEach(async () => { stack = await startStack(); });
  afterEach(async () => { await stack.close(); });

  it('[MCP-RS-PRM-DISCOVERY] [MCP-AS-RESOURCE-AUDIENCE] 401 → discovery → registration → login and consent → token → tools/list → tools/call → refresh', async () => {
    const email = await stack.user('developer');
    const provider = new TestOAuthProvider({ email, password: PASSWORD });
    const client = await connect(stack, provider);

    // The token is bound to the MCP server (RFC 8707) and carries what a developer may have.
    expect(provider.savedTokens?.scope).toBe('db:read db:write');
    const tools = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(tools).toEqual(['describe_table', 'execute_sql', 'list_tables', 'query']);

    const result = await client.callTool({ name: 'query', arguments: { sql: 'SELECT count(*) AS n FROM users' } });
    expect(result.isError).toBeFalsy();
    // Tool results are one JSON text block (apps/mcp-server/src/tools/tool-result.ts).
    expect(JSON.parse((result.content as { text: string }[])[0]!.text)).toMatchObject({ columns: ['n'], rows: [[30]] });

    const denied = await client.callTool({ name: 'delete_users', arguments: { ids: [1] } });
    expect(denied.isError).toBe(true);
    expect((denied.content as { text: string }[])[0]!.text).toBe('ACCESS DENIED\nTool: delete_users\nRequired role: admin\nYour role: developer');
    await client.close();

    // Refresh: drop the access token, keep the refresh token; the SDK refreshes on the next 401.
    const before = provider.savedTokens!;
    provider.savedTokens = { ...before, access_token: 'expired-or-missing' };
    const again = new Client({ name: 'e2e', version: '1.0.0' });
    await again.connect(new StreamableHTTPClientTransport(new URL(stack.mcp.url), { authProvider: provider }));
    expect(provider.savedTokens.refresh_token).not.toBe(before.refresh_token);
    expect((await again.listTools()).tools.length).toBe(4);
    await again.close();

    const decisions = stack.mcp.audit().map((e) => e.decision);
    expect(decisions).toContain('ALLOWED');
    expect(decisions).toContain('DENIED');
    expect(decisions).toContain('AUTH_FAILED');
  });

  it('a viewer sees only read tools, and a denied consent gives the client access_denied', async () => {
    const viewer = await stack.user('viewer');
    const client = await connect(stack, new TestOAuthProvider({ email: viewer, password: PASSWORD }));
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['describe_table', 'list_tables', 'query']);
    await client.close();

    const provider = new TestOAuthProvider({ email: viewer, password: PASSWORD, decision: 'deny' });
    await expect(connect(stack, provider)).rejects.toThrow(/access_denied/);
    expect(provider.callback?.searchParams.get('error')).toBe('access_denied');
  });

  it('[MCP-RS-TOKEN-VALIDATION] a token revoked at the auth server is refused by the MCP server within the poll interval', async () => {
    const email = await stack.user('viewer');
    const provider = new TestOAuthProvider({ email, password: PASSWORD });
    const client = await connect(stack, provider);
    await client.close();
    const token = provider.savedTokens!.access_token;
    const revoke = await fetch(`${stack.auth.url}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, client_id: (provider.clientInfo as { client_id: string }).client_id }),
    });
    expect(revoke.status).toBe(200);
    const call = () => fetch(stack.mcp.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    const deadline = Date.now() + 5000;
    let status = (await call()).status;
    while (status !== 401 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      status = (await call()).status;
    }
    expect(status).toBe(401);
  });
});
