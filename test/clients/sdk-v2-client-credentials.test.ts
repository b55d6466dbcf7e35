import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair } from 'jose';
import { Client, ClientCredentialsProvider, PrivateKeyJwtProvider, StreamableHTTPClientTransport, type OAuthClientProvider } from '@modelcontextprotocol/client';
import { addMachineClient, type NewMachineClient } from '../../apps/auth-server/src/services/client-admin.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

/**
 * Machine clients with the official SDK v2 providers against the running stack (both apps on real
 * sockets): ClientCredentialsProvider (client_secret_basic) and PrivateKeyJwtProvider (RFC 7523,
 * ES256) discover the authorization server from the MCP server's 401, get a client_credentials
 * token with no browser and no user, then list and call tools under the client's role.
 */

const TIMEOUT = 30_000;

describe('MCP SDK v2 machine clients (client credentials extension)', () => {
  let stack: Stack;
  beforeAll(async () => { stack = await startStack(); });
  afterAll(async () => { await stack?.close(); });

  const register = (c: Omit<NewMachineClient, 'name'>) => addMachineClient(stack.auth.app.ctx.store, stack.auth.app.ctx.stack.current(), { name: 'sdk job', ...c }, Date.now());

  async function session(provider: OAuthClientProvider) {
    const client = new Client({ name: 'sdk-v2-machine', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(stack.mcp.url), { authProvider: provider }));
    return client;
  }

  it('[EXT-CC-MCP-ACCEPTS] [EXT-CC-GRANT] ClientCredentialsProvider (secret) lists and calls tools with its role\'s rules', async () => {
    const c = await register({ role: 'viewer', authMethod: 'client_secret_basic' });
    const client = await session(new ClientCredentialsProvider({ clientId: c.clientId, clientSecret: c.secret!, expectedIssuer: stack.auth.url, scope: 'db:read' }));
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      // viewer: the read tools only (execute_sql needs developer and db:write).
      expect(names).toEqual(expect.arrayContaining(['list_tables', 'describe_table', 'query']));
      expect(names).not.toContain('execute_sql');
      const ok = await client.callTool({ name: 'query', arguments: { sql: 'SELECT count(*) AS n FROM users' } });
      expect(ok.isError ?? false).toBe(false);
      // The MCP app applies the role's tool rules to the client as it would to a user.
      const denied = await client.callTool({ name: 'execute_sql', arguments: { sql: 'DELETE FROM users' } });
      expect(denied.isError).toBe(true);
      expect(JSON.stringify(denied.content)).toContain('Your role: viewer');
    } finally {
      await client.close();
    }
    expect(stack.auth.auditEvents()).toContainEqual(expect.objectContaining({ event: 'token.issued', grant: 'client_credentials', client: c.clientId, role: 'viewer' }));
  }, TIMEOUT);

  it('[EXT-CC-MCP-ACCEPTS] [EXT-CC-AUTH-METHODS] PrivateKeyJwtProvider (ES256 assertion, no client_id) lists and calls tools', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const c = await register({ role: 'developer', authMethod: 'private_key_jwt', jwks: { keys: [await exportJWK(publicKey)] } });
    const provider = new PrivateKeyJwtProvider({
      clientId: c.clientId, privateKey: await exportJWK(privateKey), algorithm: 'ES256', expectedIssuer: stack.auth.url, scope: 'db:read db:write',
    });
    const client = await session(provider);
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(expect.arrayContaining(['query', 'execute_sql']));
      const r = await client.callTool({ name: 'query', arguments: { sql: 'SELECT count(*) AS n FROM orders' } });
      expect(r.isError ?? false).toBe(false);
    } finally {
      await client.close();
    }
    expect(provider.tokens()?.refresh_token).toBeUndefined();
    expect(stack.auth.auditEvents()).toContainEqual(expect.objectContaining({ event: 'token.issued', grant: 'client_credentials', client: c.clientId, role: 'developer', scope: 'db:read db:write' }));
  }, TIMEOUT);
});
