import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiKeyStore, stackRoleScopes } from '@stack/mcp-auth';
import { ConfigError } from '@stack/config';
import { buildApp } from '../src/app.ts';
import { loadMcpConfig } from '../src/config.ts';
import { checkConfiguredRoles } from '../src/pipeline/authenticate.ts';
import { bearer, callTool, listTools, rpc, startMcpServer, useIssuer } from './helpers.ts';

describe('body limit', () => {
  const issuer = useIssuer();

  it('answers a body over BODY_LIMIT_BYTES with 413', async () => {
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url, BODY_LIMIT_BYTES: '2048' });
    const t = bearer(await issuer.sign({ aud: s.url }));
    const res = await rpc(s.url, callTool('query', { sql: 'x'.repeat(5000) }), t);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: 'request_too_large' });
    expect((await rpc(s.url, listTools(), t)).status).toBe(200);
  });

  it('authenticates before reading the body: an anonymous oversized body gets 401', async () => {
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url, BODY_LIMIT_BYTES: '2048' });
    const res = await rpc(s.url, callTool('query', { sql: 'x'.repeat(5000) }));
    expect(res.status).toBe(401);
  });
});

describe('API key mode', () => {
  it('accepts a valid key (Bearer or X-API-Key), rejects bad, revoked and expired keys with 401', async () => {
    await using s = await startMcpServer({ MCP_AUTH_MODE: 'apikey' });
    // The running server's own store (SQLite, or PostgreSQL in the mcp-postgres project).
    const store = createApiKeyStore((await s.app.mcp.store()).apiKeys);
    const dev = await store.create({ name: 'ci', role: 'developer' });
    const viewer = await store.create({ name: 'ro', role: 'viewer' });

    let res = await rpc(s.url, listTools(), bearer(dev.key));
    expect(res.status).toBe(200);
    expect((await res.json()).result.tools.map((t: { name: string }) => t.name).sort()).toEqual(['describe_table', 'execute_sql', 'list_tables', 'query']);
    res = await rpc(s.url, callTool('list_tables'), { 'x-api-key': viewer.key });
    expect((await res.json()).result.content[0].text).toBe('list_tables ok');
    res = await rpc(s.url, callTool('drop_table', { table: 'x' }), { 'x-api-key': viewer.key });
    expect((await res.json()).result.content[0].text).toBe('ACCESS DENIED\nTool: drop_table\nRequired role: admin\nYour role: viewer');
    expect(s.audit().at(-1)).toMatchObject({ decision: 'DENIED', auth_kind: 'apikey', identity: `apikey:${viewer.id}` });

    res = await rpc(s.url, listTools());
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="mcp"');
    res = await rpc(s.url, listTools(), bearer(`${dev.key.slice(0, -2)}xx`));
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);

    await store.revoke(dev.id);
    expect((await rpc(s.url, listTools(), bearer(dev.key))).status).toBe(401);
    // No protected resource metadata without an authorization server.
    expect((await fetch(`${s.base}/.well-known/oauth-protected-resource/mcp`)).status).toBe(404);
    expect(JSON.stringify(s.audit())).not.toContain(dev.key);
  });
});

describe('no-authentication mode', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mcp-none-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  const base = { NODE_ENV: 'test', DATA_DIR: dataDir, MCP_AUTH_MODE: 'none' };

  it('is refused without the insecure flag, on a non-loopback host, and in production', () => {
    expect(() => loadMcpConfig(base)).toThrow(/MCP_AUTH_MODE: 'none' requires --insecure/);
    expect(() => loadMcpConfig({ ...base, MCP_HOST: '0.0.0.0' }, ['--insecure'])).toThrow(/MCP_HOST: must be a loopback address/);
    expect(() => loadMcpConfig({ ...base, NODE_ENV: 'production', MCP_PUBLIC_URL: 'https://mcp.example/mcp', AUTH_ISSUER: 'https://as.example' }, ['--insecure']))
      .toThrow(ConfigError);
  });

  it('buildApp refuses it too when handed a config that bypassed validation', async () => {
    const config = { ...loadMcpConfig(base, ['--insecure']), host: '0.0.0.0' };
    await expect(buildApp(config, { tools: [] })).rejects.toThrow(/loopback/);
  });

  it('serves loopback callers with the configured role when started with --insecure', async () => {
    await using s = await startMcpServer({ MCP_AUTH_MODE: 'none', MCP_ALLOW_INSECURE_NO_AUTH: 'true', MCP_NO_AUTH_ROLE: 'viewer' });
    const res = await rpc(s.url, listTools());
    expect(res.status).toBe(200);
    expect((await res.json()).result.tools).toHaveLength(3);
    const denied = await (await rpc(s.url, callTool('execute_sql', { sql: 'select 1' }))).json();
    expect(denied.result.content[0].text).toContain('Your role: viewer');
  });

  it('[GW-CUSTOM-ROLES] takes a role the stack file does not declare as a start error naming it', async () => {
    await expect(startMcpServer({ MCP_AUTH_MODE: 'none', MCP_ALLOW_INSECURE_NO_AUTH: 'true', MCP_NO_AUTH_ROLE: 'auditor' }))
      .rejects.toThrow(new ConfigError(["MCP_NO_AUTH_ROLE: role 'auditor' is not one the stack file declares"]));
    // A certificate mapping likewise; a declared custom role is accepted.
    const roleScopes = stackRoleScopes(() => ({ roles: ['viewer', 'auditor'], scopesForRole: () => ['audit:read'] }));
    expect(() => checkConfiguredRoles('mtls', { mtlsRoleMap: { a: 'auditor', b: 'ghost', c: 'admin' }, roleScopes }))
      .toThrow(new ConfigError(['MCP_MTLS_ROLE_MAP: role(s) ghost, admin not declared in the stack file']));
    expect(() => checkConfiguredRoles('mtls', { mtlsRoleMap: { a: 'auditor' }, roleScopes })).not.toThrow();
    expect(() => checkConfiguredRoles('none', { noAuthRole: 'auditor', roleScopes })).not.toThrow();
  });
});

describe('configuration', () => {
  it('reads CLI flags over the environment and reports every problem at once', () => {
    const c = loadMcpConfig({ MCP_AUTH_MODE: 'apikey', MCP_TRANSPORT: 'http' }, ['--auth-mode=oauth', '--audit-log', '/tmp/x.log']);
    expect(c.authMode).toBe('oauth');
    expect(c.auditLog).toBe('/tmp/x.log');
    expect(c.jwksUrl).toBe('http://localhost:4000/jwks');
    expect(c.mcpPath).toBe('/mcp');
    expect(c.allowedOrigins).toEqual(['http://localhost:4001']);
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => loadMcpConfig({ MCP_AUTH_MODE: 'mtls', RATE_LIMIT_PER_MINUTE: '0' }))
      .toThrow(/RATE_LIMIT_PER_MINUTE[\s\S]*MCP_TLS_CERT[\s\S]*MCP_TLS_KEY[\s\S]*MCP_TLS_CA[\s\S]*MCP_MTLS_ROLE_MAP/);
    expect(() => loadMcpConfig({ MCP_TRANSPORT: 'stdio', MCP_AUDIT_STDOUT: 'true' })).toThrow(/MCP_API_KEY[\s\S]*MCP_AUDIT_STDOUT/);
    expect(() => loadMcpConfig({ NODE_ENV: 'production' })).toThrow(/MCP_PUBLIC_URL: must be an https URL[\s\S]*AUTH_ISSUER/);
    expect(() => loadMcpConfig({}, ['--bogus'])).toThrow();
  });
});
