import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { ConfigError } from '@stack/config';
import { loadAuthConfig } from '../src/config.ts';
import { capturedLog, startAuthServer, type TestAuthServer } from './helpers.ts';
import { Browser, authorizeUrl, decide, pkce, reachConsent, seedClient, seedUser, validParams } from './authorize-flow.ts';

const ORIGIN = 'http://127.0.0.1:4999';
const FILES = `${ORIGIN}/mcp/files`;

/** A stack file with two servers and no db:* scopes; `extraScopes` adds lines under `scopes:`. */
const stackFile = (extraScopes = '', roles = '[admin, developer, viewer]') => `
roles: ${roles}
scopes:
  "files:read":  { description: "Read the files in the shared folder", roles: [admin, developer, viewer] }
  "files:write": { description: "Create and change the files in the shared folder", roles: [admin, developer] }
${extraScopes}
servers:
  - name: files
    path: /mcp/files
    upstream: { command: node, args: ["files-server.js"] }
    tools:
      read_file:  { roles: [admin, developer, viewer], scopes: ["files:read"] }
      write_file: { roles: [admin, developer], scopes: ["files:write"] }
  - name: everything
    path: /mcp/everything
    upstream: { url: "http://127.0.0.1:3001/mcp" }
    default: { roles: [admin, developer], scopes: ["files:write"] }
`;
const DELETE_SCOPE = '  "files:delete": { description: "Delete files in the shared folder", roles: [admin] }';

async function metadataScopes(s: TestAuthServer): Promise<unknown> {
  const res = await fetch(`${s.url}/.well-known/oauth-authorization-server`);
  return ((await res.json()) as { scopes_supported: unknown }).scopes_supported;
}

/** The error /authorize redirects a trusted (admin) client to, or undefined when it goes on to the login page. */
async function authorizeError(s: TestAuthServer, client: { id: string; redirectUris: string[] }, extra: Record<string, string>): Promise<string | null | undefined> {
  const res = await fetch(authorizeUrl(s, validParams(client.id, client.redirectUris[0]!, extra)), { redirect: 'manual' });
  if (res.status === 303) return undefined;
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location')!).searchParams.get('error');
}

describe('the authorization server on a stack file', () => {
  let dir: string;
  let file: string;
  let s: TestAuthServer;
  let log: ReturnType<typeof capturedLog>;
  let client: { id: string; redirectUris: string[] };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'auth-stack-'));
    file = join(dir, 'stack.yaml');
    writeFileSync(file, stackFile());
    log = capturedLog('error');
    s = await startAuthServer({ STACK_FILE: file, MCP_PUBLIC_ORIGIN: ORIGIN }, { logger: log.logger });
    client = await seedClient(s, { scope: 'files:read files:write files:delete' });
  });
  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('[GW-AS-STACK-SCOPES] lists the file\'s scopes in the metadata and accepts them, and only them, at registration', async () => {
    expect(await metadataScopes(s)).toEqual(['files:read', 'files:write']);
    const register = (scope: string) => fetch(`${s.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none', scope }),
    });
    const ok = await register('files:read');
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ scope: 'files:read' });
    const refused = await register('db:read');
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({ error: 'invalid_client_metadata', error_description: "unknown scope 'db:read' in 'scope'" });
    // At /authorize too: a scope the file does not declare is invalid_scope.
    expect(await authorizeError(s, client, { resource: FILES, scope: 'db:read' })).toBe('invalid_scope');
  });

  it('[GW-AS-STACK-RESOURCES] [GW-AS-STACK-SCOPES] issues a token for MCP_PUBLIC_ORIGIN + a server path, with that URL as the audience, and shows the file\'s consent sentence', async () => {
    const user = await seedUser(s, 'developer');
    const { verifier, challenge } = pkce();
    const b = new Browser(s.url);
    const { html } = await reachConsent(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!, { resource: FILES, scope: 'files:read', code_challenge: challenge })), user.email);
    expect(html).toContain('Read the files in the shared folder');
    expect(html).not.toContain('Create and change');
    const code = new URL((await decide(b, html, 'allow')).headers.get('location')!).searchParams.get('code')!;
    const res = await fetch(`${s.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: client.id, code, redirect_uri: client.redirectUris[0]!, code_verifier: verifier, resource: FILES }).toString(),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; scope: string };
    expect(body.scope).toBe('files:read');
    expect(decodeJwt(body.access_token)).toMatchObject({ aud: FILES, scope: 'files:read' });
  });

  it('[GW-AS-STACK-RESOURCES] refuses any other resource with invalid_target, the old default /mcp among them', async () => {
    expect(await authorizeError(s, client, { resource: `${ORIGIN}/mcp/everything`, scope: 'files:read' })).toBeUndefined();
    for (const resource of [`${ORIGIN}/mcp/other`, `${ORIGIN}/mcp`, 'http://127.0.0.1:5000/mcp/files']) {
      expect(await authorizeError(s, client, { resource, scope: 'files:read' }), resource).toBe('invalid_target');
    }
  });

  it('[GW-AS-STACK-SCOPES] caps the scopes by the role the file allows: a viewer asking for files:write gets only files:read', async () => {
    const viewer = await seedUser(s, 'viewer');
    const b = new Browser(s.url);
    const { html } = await reachConsent(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!, { resource: FILES, scope: 'files:read files:write' })), viewer.email);
    expect(html).toContain('Read the files in the shared folder');
    expect(html).not.toContain('Create and change the files');
    const code = new URL((await decide(b, html, 'allow')).headers.get('location')!).searchParams.get('code')!;
    const rows = await s.sql<{ scope: string; resource: string }>('select scope, resource from authorization_codes order by created_at desc limit 1');
    expect(code.length).toBeGreaterThan(10);
    expect(rows[0]).toEqual({ scope: 'files:read', resource: FILES });
  });

  it('[GW-AS-STACK-RELOAD] a reload adds a scope for the next request; an invalid file is refused with one log line and the old file kept', async () => {
    expect(await authorizeError(s, client, { resource: FILES, scope: 'files:delete' })).toBe('invalid_scope');
    writeFileSync(file, stackFile(DELETE_SCOPE));
    expect(s.app.ctx.stack.reload()).toBe(true);
    expect(await metadataScopes(s)).toEqual(['files:read', 'files:write', 'files:delete']);
    expect(await authorizeError(s, client, { resource: FILES, scope: 'files:delete' })).toBeUndefined();

    const before = log.lines().length;
    // A rule that needs an undeclared scope, and a server path used twice.
    writeFileSync(file, stackFile().replace('scopes: ["files:write"] }\n  - name', 'scopes: ["files:nope"] }\n  - name').replace('/mcp/everything', '/mcp/files'));
    expect(s.app.ctx.stack.reload()).toBe(false);
    const lines = log.lines().slice(before);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toMatch(/^stack file not reloaded, keeping the previous one: .*stack\.yaml: .*servers\.0\.tools\.write_file\.scopes\.0: scope 'files:nope' is not in scopes.*; servers\.1\.path: /);
    expect(lines[0]!.msg).not.toContain('\n');
    // The file in force is still the one with files:delete.
    expect(await metadataScopes(s)).toEqual(['files:read', 'files:write', 'files:delete']);
    expect(await authorizeError(s, client, { resource: `${ORIGIN}/mcp/everything`, scope: 'files:delete' })).toBeUndefined();
  });
});

describe('stack file settings', () => {
  it('[GW-AS-STACK-RESOURCES] MCP_PUBLIC_ORIGIN is an origin (https in production), reported with every other problem; STACK_FILE defaults to the repository\'s stack.yaml', () => {
    const c = loadAuthConfig({ NODE_ENV: 'test' });
    expect(c.mcpPublicOrigin).toBe('http://localhost:4001');
    expect(c.stackFile).toBe(join(import.meta.dirname, '../../../stack.yaml'));
    expect(loadAuthConfig({ NODE_ENV: 'test', MCP_PUBLIC_ORIGIN: 'https://MCP.example.com/' }).mcpPublicOrigin).toBe('https://mcp.example.com');
    const problems = (env: Record<string, string>) => {
      try {
        loadAuthConfig(env);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    const m = problems({ NODE_ENV: 'test', MCP_PUBLIC_ORIGIN: 'https://mcp.example.com/mcp', AUTH_PORT: 'x' });
    expect(m).toMatch(/MCP_PUBLIC_ORIGIN: must be an origin/);
    expect(m).toMatch(/AUTH_PORT/);
    expect(problems({ NODE_ENV: 'test', MCP_PUBLIC_ORIGIN: 'https://mcp.example.com?x=1' })).toMatch(/MCP_PUBLIC_ORIGIN: must be an origin/);
    expect(problems({ NODE_ENV: 'production', AUTH_ISSUER: 'https://auth.example.com', KEY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64') }))
      .toMatch(/MCP_PUBLIC_ORIGIN: must be an https origin in production/);
  });
});

describe('the authorization server: scopes and resources per server', () => {
  let dir: string;
  let s: TestAuthServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'auth-stack-servers-'));
    writeFileSync(join(dir, 'stack.yaml'), `
roles: [admin, developer, viewer]
scopes:
  "files:read": { description: "Read the files in the shared folder", roles: [admin, developer, viewer] }
  "files:all":  { description: "Everything on the files", roles: [admin] }
  "db:read":    { description: "Read the database", roles: [admin, developer, viewer] }
servers:
  - name: files
    path: /mcp/files
    upstream: { command: node, args: ["files-server.js"] }
    scope_implies: { "files:all": ["files:read"] }
    tools:
      read_file: { roles: [admin, developer, viewer], scopes: ["files:read"] }
  - name: db
    path: /mcp/db
    upstream: { url: "http://127.0.0.1:3001/mcp" }
    default: { roles: [admin, developer, viewer], scopes: ["db:read"] }
  - name: keys
    path: /mcp/keys
    auth: [apikey]
    upstream: { url: "http://127.0.0.1:3002/mcp" }
    default: { roles: [admin, developer, viewer], scopes: ["db:read"] }
`);
    s = await startAuthServer({ STACK_FILE: join(dir, 'stack.yaml'), MCP_PUBLIC_ORIGIN: ORIGIN });
  });
  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('[GW-AS-STACK-SCOPES] a request without scope gets the client\'s scopes that the requested server uses (and those implying them), not every scope it registered', async () => {
    const client = await seedClient(s, { scope: 'files:read files:all db:read' });
    const admin = await seedUser(s, 'admin');
    const b = new Browser(s.url);
    const { html } = await reachConsent(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!, { resource: FILES, scope: undefined })), admin.email);
    expect(html).toContain('Read the files in the shared folder');
    expect(html).toContain('Everything on the files');
    expect(html).not.toContain('Read the database');
    await decide(b, html, 'allow');
    const rows = await s.sql<{ scope: string; resource: string }>('select scope, resource from authorization_codes order by created_at desc limit 1');
    expect(rows[0]!.resource).toBe(FILES);
    expect(rows[0]!.scope.split(' ').sort()).toEqual(['files:all', 'files:read']);
  });

  it('[GW-AS-STACK-RESOURCES] [GW-PER-SERVER-AUTH] issues no token for a server whose entry takes only API keys (invalid_target)', async () => {
    const client = await seedClient(s, { scope: 'files:read db:read' });
    expect(await authorizeError(s, client, { resource: `${ORIGIN}/mcp/db`, scope: 'db:read' })).toBeUndefined();
    expect(await authorizeError(s, client, { resource: `${ORIGIN}/mcp/keys`, scope: 'db:read' })).toBe('invalid_target');
  });
});
