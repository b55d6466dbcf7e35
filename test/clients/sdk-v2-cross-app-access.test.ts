import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair, jwtVerify, type CryptoKey, type JWK } from 'jose';
import { Client, CrossAppAccessProvider, StreamableHTTPClientTransport, requestJwtAuthorizationGrant } from '@modelcontextprotocol/client';
import { addClient, type TestClient } from '../../apps/auth-server/test/token-fixtures.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

/**
 * Enterprise-managed authorization (SEP-990) with the official SDK v2 CrossAppAccessProvider against
 * the running stack, no browser: a test IdP issues the user's ID token and, by RFC 8693 token
 * exchange, an ID-JAG for our authorization server and MCP server; the provider trades the ID-JAG
 * for an access token (jwt-bearer grant, client_secret_basic) and the client lists and calls tools
 * under the role the IdP's groups map to.
 */

const TIMEOUT = 30_000;
const IDP_CLIENT = 'agent-at-idp';
const IDP_SECRET = 'idp-secret-for-tests';

interface TestIdp {
  issuer: string;
  /** An ID token for `sub`, as the IdP's login would give the agent. */
  idToken(sub: string, groups: string[]): Promise<string>;
  close(): Promise<void>;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return new URLSearchParams(body);
}

/**
 * A tiny enterprise IdP: /jwks and an RFC 8693 token endpoint that exchanges its own ID token for an
 * ID-JAG (draft-ietf-oauth-identity-assertion-authz-grant §4.3) naming `mcpClientId`.
 */
async function startIdp(mcpClientId: string): Promise<TestIdp> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'idp', alg: 'ES256', use: 'sig' };
  let issuer = '';
  const sign = (claims: Record<string, unknown>, typ: string, key: CryptoKey) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ, kid: 'idp' }).setIssuer(issuer).setIssuedAt().setExpirationTime('5m').setJti(randomUUID()).sign(key);
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    if (req.method === 'GET' && req.url === '/jwks') return send(200, { keys: [jwk] });
    if (req.method !== 'POST' || req.url !== '/token') return send(404, { error: 'not_found' });
    void (async () => {
      const form = await readForm(req);
      if (form.get('client_id') !== IDP_CLIENT || form.get('client_secret') !== IDP_SECRET) return send(401, { error: 'invalid_client' });
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:token-exchange' || form.get('requested_token_type') !== 'urn:ietf:params:oauth:token-type:id-jag') {
        return send(400, { error: 'invalid_request' });
      }
      const { payload } = await jwtVerify(form.get('subject_token') ?? '', publicKey, { issuer, audience: IDP_CLIENT });
      const jag = await sign({
        sub: payload.sub, aud: form.get('audience'), client_id: mcpClientId, resource: form.get('resource'), groups: payload.groups,
        ...(form.get('scope') ? { scope: form.get('scope') } : {}),
      }, 'oauth-id-jag+jwt', privateKey);
      send(200, { access_token: jag, issued_token_type: 'urn:ietf:params:oauth:token-type:id-jag', token_type: 'N_A', expires_in: 300, ...(form.get('scope') ? { scope: form.get('scope') } : {}) });
    })().catch(() => send(400, { error: 'invalid_grant' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    idToken: (sub, groups) => sign({ sub, aud: IDP_CLIENT, groups }, 'JWT', privateKey),
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe('MCP SDK v2 CrossAppAccessProvider (enterprise-managed authorization)', () => {
  let stack: Stack;
  let idp: TestIdp;
  let agent: TestClient;
  let dir: string;

  beforeAll(async () => {
    idp = await startIdp('agent-app');
    dir = mkdtempSync(join(tmpdir(), 'xaa-'));
    const file = join(dir, 'stack.yaml');
    writeFileSync(file, `${readFileSync(resolve(import.meta.dirname, '../../stack.yaml'), 'utf8')}
enterprise_idps:
  - issuer: ${idp.issuer}
    jwks_uri: ${idp.issuer}/jwks
    clients: [agent-app]
    roles: { engineering: developer, staff: viewer }
`);
    // The test IdP is on loopback: reachable only with CIMD_ALLOW_PRIVATE_ADDRESSES (as in development).
    stack = await startStack({ authEnv: { STACK_FILE: file, CIMD_ALLOW_PRIVATE_ADDRESSES: 'true' }, mcpEnv: { STACK_FILE: file } });
    agent = await addClient(stack.auth, { id: 'agent-app', method: 'client_secret_basic', grantTypes: ['authorization_code'] });
  });
  afterAll(async () => {
    await stack?.close();
    await idp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('[EMA-GRANT] [EMA-MCP-ACCEPTS] [EMA-ROLE] trades an ID-JAG from the IdP for a token and lists and calls tools with the mapped role, no browser', async () => {
    const idToken = await idp.idToken('alice@acme.example', ['staff']);
    const provider = new CrossAppAccessProvider({
      assertion: async (ctx) => (await requestJwtAuthorizationGrant({
        tokenEndpoint: `${idp.issuer}/token`, audience: ctx.authorizationServerUrl, resource: ctx.resourceUrl, idToken,
        clientId: IDP_CLIENT, clientSecret: IDP_SECRET, ...(ctx.scope ? { scope: ctx.scope } : {}), fetchFn: ctx.fetchFn,
      })).jwtAuthGrant,
      clientId: agent.id, clientSecret: agent.secret!, expectedIssuer: stack.auth.url,
    });
    const client = new Client({ name: 'sdk-v2-xaa', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(stack.mcp.url), { authProvider: provider }));
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['list_tables', 'query']));
      expect(names).not.toContain('execute_sql');
      const ok = await client.callTool({ name: 'query', arguments: { sql: 'SELECT count(*) AS n FROM users' } });
      expect(ok.isError ?? false).toBe(false);
    } finally {
      await client.close();
    }
    expect(stack.auth.auditEvents()).toContainEqual(expect.objectContaining({
      event: 'token.issued', grant: 'jwt-bearer', assertion: 'id-jag', issuer: idp.issuer, subject: `${idp.issuer}|alice@acme.example`, client: 'agent-app', role: 'viewer',
    }));
  }, TIMEOUT);
});
