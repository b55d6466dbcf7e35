import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKeyStore } from '@stack/mcp-auth';
import { DPOP_ALGS } from '../src/pipeline/dpop.ts';
import { bearer, callTool, listTools, rpc, startIssuer, startMcpServer, useIssuer, type TestMcpServer } from './helpers.ts';
import { fixture, runNode, type Lines } from './upstream-helpers.ts';

const toolText = (body: { result?: { content?: { text?: string }[] } }) => body.result?.content?.[0]?.text ?? '';

/**
 * Each server of the stack file accepts the methods its `auth` names: access tokens, API keys or
 * either. Three gateway servers in front of one HTTP fixture, and the built-in server, whose entry
 * names none (MCP_AUTH_MODE decides for it).
 */
describe('gateway: per-server auth methods', () => {
  const issuer = useIssuer();
  let dir: string;
  let stackFile: string;
  let fx: Lines;
  let s: TestMcpServer;
  let origin: string;
  let key: string;
  let keyId: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-gateway-auth-'));
    fx = runNode([fixture('http-mcp.mjs')], 'stdout');
    const port = (JSON.parse(await fx.waitFor(/"port"/)) as { port: number }).port;
    const upstream = `{ url: "http://127.0.0.1:${port}/mcp" }`;
    const rule = '{ roles: [admin, developer], scopes: ["demo:use"] }';
    stackFile = join(dir, 'stack.yaml');
    writeFileSync(stackFile, `
roles: [admin, developer, viewer]
scopes:
  "db:read": { description: "Read data", roles: [admin, developer, viewer] }
  "demo:use": { description: "Demo tools", roles: [admin, developer] }
servers:
  - name: database
    path: /mcp
    upstream: { builtin: database }
    default: { roles: [admin, developer, viewer], scopes: ["db:read"] }
  - { name: keys, path: /mcp/keys, upstream: ${upstream}, auth: [apikey], default: ${rule} }
  - { name: both, path: /mcp/both, upstream: ${upstream}, auth: [oauth, apikey], default: ${rule} }
  - { name: tokens, path: /mcp/tokens, upstream: ${upstream}, auth: [oauth], default: ${rule} }
`);
    s = await startMcpServer({ AUTH_ISSUER: issuer.url, STACK_FILE: stackFile }, { policy: undefined });
    origin = new URL(s.url).origin;
    ({ key, id: keyId } = await createApiKeyStore((await s.app.mcp.store()).apiKeys).create({ name: 'ci', role: 'developer' }));
  });
  afterAll(async () => {
    await s?.close();
    await fx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const token = async (path: string) => bearer(await issuer.sign({ aud: `${origin}${path}`, sub: 'dev-user', role: 'developer', scope: 'demo:use' }));
  const echo = async (path: string, headers: Record<string, string>) => {
    const r = await rpc(`${origin}${path}`, callTool('echo', { message: path }), headers);
    return { status: r.status, challenge: r.headers.get('www-authenticate'), text: r.status === 200 ? toolText(await r.json()) : '' };
  };
  const metadata = async (path: string) => (await fetch(`${origin}/.well-known/oauth-protected-resource${path}`)).status;
  const prm = (path: string) => `resource_metadata="${origin}/.well-known/oauth-protected-resource${path}"`;

  it('[GW-PER-SERVER-AUTH] an [apikey] server takes a key (bearer or X-API-Key), refuses a valid token for its own audience, names realm="mcp" and has no metadata', async () => {
    expect(await echo('/mcp/keys', bearer(key))).toMatchObject({ status: 200, text: '/mcp/keys' });
    expect(await echo('/mcp/keys', { 'x-api-key': key })).toMatchObject({ status: 200, text: '/mcp/keys' });
    expect(s.audit().at(-1)).toMatchObject({ decision: 'ALLOWED', server: 'keys', auth_kind: 'apikey', identity: `apikey:${keyId}` });

    expect(await echo('/mcp/keys', await token('/mcp/keys'))).toEqual({
      status: 401, text: '', challenge: 'Bearer realm="mcp", error="invalid_token", error_description="this server accepts only api keys"',
    });
    expect(await echo('/mcp/keys', {})).toEqual({ status: 401, text: '', challenge: 'Bearer realm="mcp"' });
    expect(await metadata('/mcp/keys')).toBe(404);
  });

  it('[GW-PER-SERVER-AUTH] an [oauth, apikey] server takes a token for its audience and a key; its challenges name its metadata and scopes', async () => {
    expect(await echo('/mcp/both', await token('/mcp/both'))).toMatchObject({ status: 200, text: '/mcp/both' });
    expect(s.audit().at(-1)).toMatchObject({ decision: 'ALLOWED', server: 'both', auth_kind: 'user', identity: 'dev-user' });
    expect(await echo('/mcp/both', bearer(key))).toMatchObject({ status: 200, text: '/mcp/both' });
    expect(await echo('/mcp/both', { 'x-api-key': key })).toMatchObject({ status: 200, text: '/mcp/both' });
    expect(s.audit().at(-1)).toMatchObject({ decision: 'ALLOWED', server: 'both', auth_kind: 'apikey' });

    expect(await echo('/mcp/both', {})).toEqual({ status: 401, text: '', challenge: `Bearer ${prm('/mcp/both')}, scope="demo:use", DPoP algs="${DPOP_ALGS.join(' ')}", ${prm('/mcp/both')}, scope="demo:use"` });
    // A wrong key is refused as a key (it has the key prefix), a token for another server by its audience.
    const wrongKey = await echo('/mcp/both', bearer(`${key.slice(0, -2)}xx`));
    expect(wrongKey.status).toBe(401);
    expect(wrongKey.challenge).toMatch(/^Bearer error="invalid_token", error_description="api key is not valid", resource_metadata=/);
    const otherAudience = await echo('/mcp/both', await token('/mcp/tokens'));
    expect(otherAudience.status).toBe(401);
    expect(otherAudience.challenge).toContain(prm('/mcp/both'));
    expect(otherAudience.challenge).not.toContain('api key');
    expect(await metadata('/mcp/both')).toBe(200);
    expect(JSON.stringify(s.audit())).not.toContain(key);
  });

  it('[GW-PER-SERVER-AUTH] an [oauth] server refuses a key, as bearer or X-API-Key, even beside a valid token', async () => {
    const t = await token('/mcp/tokens');
    expect(await echo('/mcp/tokens', t)).toMatchObject({ status: 200, text: '/mcp/tokens' });
    for (const headers of [bearer(key), { 'x-api-key': key }, { ...t, 'x-api-key': key }]) {
      expect(await echo('/mcp/tokens', headers)).toEqual({
        status: 401, text: '', challenge: `Bearer error="invalid_token", error_description="this server does not accept api keys", ${prm('/mcp/tokens')}, DPoP algs="${DPOP_ALGS.join(' ')}", ${prm('/mcp/tokens')}`,
      });
    }
    expect(s.audit().at(-1)).toMatchObject({ decision: 'AUTH_FAILED', reason: 'this server does not accept api keys' });
    expect(await metadata('/mcp/tokens')).toBe(200);
  });

  it('[GW-PER-SERVER-AUTH] the built-in server names no auth: MCP_AUTH_MODE decides, and the root metadata is its own', async () => {
    expect((await rpc(s.url, listTools(), await token('/mcp'))).status).toBe(200);
    expect((await rpc(s.url, listTools(), bearer(key))).status).toBe(401);
    const root = await (await fetch(`${origin}/.well-known/oauth-protected-resource`)).json() as { resource: string };
    expect(root.resource).toBe(`${origin}/mcp`);
  });

  it('[GW-PER-SERVER-AUTH] MCP_AUTH_MODE=apikey: the built-in server takes keys only (no metadata, not even at the root), an [oauth] server still takes tokens', async () => {
    await using k = await startMcpServer({ AUTH_ISSUER: issuer.url, STACK_FILE: stackFile, MCP_AUTH_MODE: 'apikey' }, { policy: undefined });
    const o = new URL(k.url).origin;
    const own = await createApiKeyStore((await k.app.mcp.store()).apiKeys).create({ name: 'ci', role: 'developer' });
    expect((await rpc(k.url, listTools(), bearer(own.key))).status).toBe(200);
    const refused = await rpc(k.url, listTools(), bearer(await issuer.sign({ aud: k.url })));
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="mcp", error="invalid_token", error_description="this server accepts only api keys"');
    expect((await fetch(`${o}/.well-known/oauth-protected-resource`)).status).toBe(404);
    expect((await fetch(`${o}/.well-known/oauth-protected-resource/mcp`)).status).toBe(404);

    const t = bearer(await issuer.sign({ aud: `${o}/mcp/tokens`, role: 'developer', scope: 'demo:use' }));
    expect(toolText(await (await rpc(`${o}/mcp/tokens`, callTool('echo', { message: 'token' }), t)).json())).toBe('token');
    expect((await fetch(`${o}/.well-known/oauth-protected-resource/mcp/tokens`)).status).toBe(200);
  });

  it('[GW-PER-SERVER-AUTH] [MCP-RS-TOKEN-VALIDATION] MCP_AUTH_MODE=apikey: the revocation feed is still polled for an [oauth] server, and a revoked token refused there', async () => {
    const own = await startIssuer();
    try {
      const jti = randomUUID();
      own.revoked.push({ jti, expiresAt: Date.now() + 600_000 });
      await using k = await startMcpServer({ AUTH_ISSUER: own.url, STACK_FILE: stackFile, MCP_AUTH_MODE: 'apikey', REVOCATION_POLL_SECONDS: '1' }, { policy: undefined });
      const url = `${new URL(k.url).origin}/mcp/tokens`;
      const revoked = bearer(await own.sign({ aud: url, role: 'developer', scope: 'demo:use', jti }));
      let status = 0;
      for (let i = 0; i < 40 && status !== 401; i++) {
        status = (await rpc(url, listTools(), revoked)).status;
        if (status !== 401) await new Promise((r) => setTimeout(r, 50));
      }
      expect(status).toBe(401);
      expect((await rpc(url, listTools(), bearer(await own.sign({ aud: url, role: 'developer', scope: 'demo:use' })))).status).toBe(200);
      expect(own.seen.some((r) => r.url.startsWith('/revocations'))).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('[GW-PER-SERVER-AUTH] MCP_AUTH_MODE=none applies to every server whatever its auth says: no credential needed, no metadata', async () => {
    await using n = await startMcpServer({ STACK_FILE: stackFile, MCP_AUTH_MODE: 'none', MCP_ALLOW_INSECURE_NO_AUTH: 'true', MCP_NO_AUTH_ROLE: 'admin' }, { policy: undefined });
    const o = new URL(n.url).origin;
    for (const path of ['/mcp/keys', '/mcp/both', '/mcp/tokens']) {
      expect((await rpc(`${o}${path}`, listTools())).status, path).toBe(200);
      expect((await fetch(`${o}/.well-known/oauth-protected-resource${path}`)).status, path).toBe(404);
    }
  });
});
