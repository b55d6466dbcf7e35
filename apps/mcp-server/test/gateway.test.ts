import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKek } from '@stack/crypto';
import { createSecretStore } from '../src/secrets/store.ts';
import { openTestMcpStore, type TestMcpStore } from './store-helpers.ts';
import { bearer, callTool, listTools, rpc, startMcpServer, useIssuer, type TestMcpServer } from './helpers.ts';
import { FILESYSTEM_ENTRY, fixture, runNode, type Lines } from './upstream-helpers.ts';

const SECRET = `upstream-${randomBytes(8).toString('hex')}`;
const toolText = (body: { result?: { content?: { text?: string }[] } }) => body.result?.content?.[0]?.text ?? '';

/**
 * The MCP app as a gateway: the stack file's upstream servers (the real filesystem server from npm
 * on stdio, and an HTTP fixture) served at their own paths through the same pipeline as the
 * built-in tools.
 */
describe('gateway: upstream MCP servers from the stack file', () => {
  const issuer = useIssuer();
  let dir: string;
  let shared: string;
  let fx: Lines;
  let s: TestMcpServer;
  let origin: string;
  // The secret is set before the server starts, in its store (SQLite, or PostgreSQL with TEST_MCP_DB).
  let control: TestMcpStore;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-gateway-'));
    shared = join(dir, 'shared');
    mkdirSync(shared);
    writeFileSync(join(shared, 'hello.txt'), 'hello from the shared folder');
    const key = randomBytes(32);
    control = await openTestMcpStore({ KEY_ENCRYPTION_KEY: key.toString('base64') });
    await createSecretStore(control.store.secrets, [makeKek(key)]).set('FIXTURE_TOKEN', SECRET);
    fx = runNode([fixture('http-mcp.mjs')], 'stdout');
    const port = (JSON.parse(await fx.waitFor(/"port"/)) as { port: number }).port;
    writeFileSync(join(dir, 'stack.yaml'), `
roles: [admin, developer, viewer]
scopes:
  "db:read": { description: "Read data", roles: [admin, developer, viewer] }
  "files:read": { description: "Read files", roles: [admin, developer, viewer] }
  "files:write": { description: "Write files", roles: [admin, developer] }
  "demo:use": { description: "Demo tools", roles: [admin, developer] }
servers:
  - name: database
    path: /mcp
    upstream: { builtin: database }
    default: { roles: [admin, developer, viewer], scopes: ["db:read"] }
  - name: files
    path: /mcp/files
    upstream: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FILESYSTEM_ENTRY)}, ${JSON.stringify(shared)}] }
    tools:
      read_text_file: { roles: [admin, developer, viewer], scopes: ["files:read"] }
      write_file: { roles: [admin, developer], scopes: ["files:write"], rate_limit_per_minute: 30 }
    default: deny
  - name: fixture
    path: /mcp/fixture
    timeout_seconds: 1
    upstream: { url: "http://127.0.0.1:${port}/mcp", headers: { Authorization: "Bearer \${secret:FIXTURE_TOKEN}" } }
    default: { roles: [admin, developer], scopes: ["demo:use"] }
`);
    s = await startMcpServer({ AUTH_ISSUER: issuer.url, STACK_FILE: join(dir, 'stack.yaml'), ...control.env }, { policy: undefined });
    origin = new URL(s.url).origin;
  });
  afterAll(async () => {
    await s?.close();
    await control?.close();
    await fx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const token = async (path: string, role: string, scope: string) => bearer(await issuer.sign({ aud: `${origin}${path}`, sub: `${role}-user`, role, scope }));

  it('[GW-PER-SERVER-RESOURCE] each server has its own protected resource metadata and audience; a token for one is refused by the others', async () => {
    const prm = await (await fetch(`${origin}/.well-known/oauth-protected-resource/mcp/files`)).json() as Record<string, unknown>;
    expect(prm).toMatchObject({ resource: `${origin}/mcp/files`, authorization_servers: [issuer.url], scopes_supported: ['files:read', 'files:write'] });
    const unauthenticated = await rpc(`${origin}/mcp/files`, listTools());
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get('www-authenticate')).toContain(`resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp/files"`);
    const forFiles = await token('/mcp/files', 'admin', 'files:read files:write demo:use db:read');
    expect((await rpc(`${origin}/mcp/files`, listTools(), forFiles)).status).toBe(200);
    for (const other of ['/mcp/fixture', '/mcp']) {
      const r = await rpc(`${origin}${other}`, listTools(), forFiles);
      expect(r.status, other).toBe(401);
      expect(r.headers.get('www-authenticate'), other).toContain('error="invalid_token"');
    }
  });

  it('[GW-TOOL-RULES] a viewer lists and reads files but cannot write; a developer writes; tools the file does not name are neither listed nor callable', async () => {
    const viewer = await token('/mcp/files', 'viewer', 'files:read');
    const developer = await token('/mcp/files', 'developer', 'files:read files:write');
    const names = async (who: Record<string, string>) => ((await (await rpc(`${origin}/mcp/files`, listTools(), who)).json()).result.tools as { name: string }[]).map((t) => t.name).sort();
    expect(await names(viewer)).toEqual(['read_text_file']);
    expect(await names(developer)).toEqual(['read_text_file', 'write_file']);

    const read = await (await rpc(`${origin}/mcp/files`, callTool('read_text_file', { path: join(shared, 'hello.txt') }), viewer)).json();
    expect(toolText(read)).toBe('hello from the shared folder');
    const denied = await (await rpc(`${origin}/mcp/files`, callTool('write_file', { path: join(shared, 'new.txt'), content: 'x' }), viewer)).json();
    expect(denied.result.isError).toBe(true);
    expect(toolText(denied)).toMatch(/^ACCESS DENIED\nTool: write_file/);
    expect(existsSync(join(shared, 'new.txt'))).toBe(false);
    const written = await (await rpc(`${origin}/mcp/files`, callTool('write_file', { path: join(shared, 'new.txt'), content: 'written through the gateway' }), developer)).json();
    expect(written.result.isError).toBeFalsy();
    expect(readFileSync(join(shared, 'new.txt'), 'utf8')).toBe('written through the gateway');
    // list_directory exists upstream, but the file does not name it and its default is deny.
    const unnamed = await (await rpc(`${origin}/mcp/files`, callTool('list_directory', { path: shared }), developer)).json();
    expect(unnamed.error).toMatchObject({ code: -32602 });

    const lines = s.audit().filter((l) => l.server === 'files' && l.tool);
    expect(lines.map((l) => [l.decision, l.tool, l.identity])).toEqual([
      ['ALLOWED', 'read_text_file', 'viewer-user'], ['DENIED', 'write_file', 'viewer-user'], ['ALLOWED', 'write_file', 'developer-user'], ['DENIED', 'list_directory', 'developer-user'],
    ]);
  });

  it('[GW-UPSTREAM-NO-PASSTHROUGH] the upstream gets the header the file configures (from the secret store), never the caller\'s token', async () => {
    const dev = await token('/mcp/fixture', 'developer', 'demo:use');
    const body = await (await rpc(`${origin}/mcp/fixture`, callTool('echo', { message: 'through the gateway' }), dev)).json();
    expect(toolText(body)).toBe('through the gateway');
    const seen = fx.lines.slice(1).map((l) => (JSON.parse(l) as { authorization: string | null }).authorization);
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set([`Bearer ${SECRET}`]));
    expect(JSON.stringify(s.audit())).not.toContain(SECRET);
  });

  it('[GW-UPSTREAM-TIMEOUT] an upstream that never answers gives the caller a tool error with the request id in time, audited ERROR; the gateway keeps serving', async () => {
    const dev = await token('/mcp/fixture', 'developer', 'demo:use');
    const call = callTool('hang');
    const r = await rpc(`${origin}/mcp/fixture`, call, dev);
    expect(r.status).toBe(200);
    const body = await r.json();
    expect(body.id).toBe(call.id);
    expect(body.result.isError).toBe(true);
    expect(toolText(body)).toMatch(/^The fixture server did not answer the call: .*timed out/);
    expect(s.audit().at(-1)).toMatchObject({ decision: 'ERROR', server: 'fixture', tool: 'hang' });
    expect(toolText(await (await rpc(`${origin}/mcp/fixture`, callTool('echo', { message: 'still here' }), dev)).json())).toBe('still here');
  });

  it('[GW-UPSTREAM-SIZE] [GW-UPSTREAM-MALFORMED] an upstream answering 10 MB or garbage gives the caller a clear tool error, audited ERROR, and the gateway keeps serving', async () => {
    const dev = await token('/mcp/fixture', 'developer', 'demo:use');
    for (const [tool, why] of [['big', /answered more than \d+ bytes/], ['garbage', /answered with malformed JSON/]] as const) {
      const call = callTool(tool);
      const r = await rpc(`${origin}/mcp/fixture`, call, dev);
      expect(r.status, tool).toBe(200);
      const body = await r.json();
      expect(body.id, tool).toBe(call.id);
      expect(body.result.isError, tool).toBe(true);
      expect(toolText(body), tool).toMatch(/^The fixture server did not answer the call: /);
      expect(toolText(body), tool).toMatch(why);
      expect(JSON.stringify(body).length, tool).toBeLessThan(10_000);
      expect(s.audit().at(-1), tool).toMatchObject({ decision: 'ERROR', server: 'fixture', tool });
    }
    expect(toolText(await (await rpc(`${origin}/mcp/fixture`, callTool('echo', { message: 'after the faults' }), dev)).json())).toBe('after the faults');
  });

  it('[GW-PER-SERVER-RESOURCE] serves a 2026-07-28 client on a gateway path too', async () => {
    const viewer = await token('/mcp/files', 'viewer', 'files:read');
    const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
    const body = { jsonrpc: '2.0', id: 77, method: 'tools/call', params: { name: 'read_text_file', arguments: { path: join(shared, 'hello.txt') }, _meta: meta } };
    const r = await rpc(`${origin}/mcp/files`, body, { ...viewer, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'read_text_file' });
    const answer = await r.json();
    expect(answer).toMatchObject({ id: 77, result: { resultType: 'complete' } });
    expect(toolText(answer)).toBe('hello from the shared folder');
  });
});
