import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, rpc, startMcpServer, useIssuer, type TestMcpServer } from './helpers.ts';
import { EVERYTHING_ENTRY } from './upstream-helpers.ts';

const DOC = 'demo://resource/static/document/';
let nextId = 1000;
const request = (method: string, params: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id: nextId++, method, params });
const MODERN_META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };

/**
 * A gateway server's resources and prompts (the real server-everything from npm, on stdio): listed
 * and served per the stack file's `resources` and `prompts` rules, gated and audited like tools.
 */
describe('gateway: resource and prompt rules', () => {
  const issuer = useIssuer();
  let dir: string;
  let s: TestMcpServer;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-gateway-items-'));
    writeFileSync(join(dir, 'stack.yaml'), `
roles: [admin, developer, viewer]
scopes:
  "db:read": { description: "Read data", roles: [admin, developer, viewer] }
  "ev:read": { description: "Read demo documents", roles: [admin, developer, viewer] }
  "ev:dev": { description: "Developer documents and prompts", roles: [admin, developer] }
servers:
  - name: database
    path: /mcp
    upstream: { builtin: database }
    default: { roles: [admin, developer, viewer], scopes: ["db:read"] }
  - name: everything
    path: /mcp/everything
    upstream: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(EVERYTHING_ENTRY)}, stdio] }
    tools:
      echo: { roles: [admin, developer, viewer], scopes: ["ev:read"] }
    resources:
      "${DOC}features.md": { roles: [admin, developer, viewer], scopes: ["ev:read"] }
      "${DOC}architecture.md": { roles: [admin, developer], scopes: ["ev:dev"] }
      default: deny
    prompts:
      simple-prompt: { roles: [admin, developer, viewer], scopes: ["ev:read"] }
      args-prompt: { roles: [admin, developer], scopes: ["ev:dev"], rate_limit_per_minute: 100 }
`);
    s = await startMcpServer({ AUTH_ISSUER: issuer.url, STACK_FILE: join(dir, 'stack.yaml') }, { policy: undefined });
    url = `${new URL(s.url).origin}/mcp/everything`;
  });
  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const token = async (role: string, scope: string) => bearer(await issuer.sign({ aud: url, sub: `${role}-user`, role, scope }));
  const call = async (who: Record<string, string>, method: string, params: Record<string, unknown> = {}) => {
    const r = await rpc(url, request(method, params), who);
    return { status: r.status, headers: r.headers, body: await r.json() as { id: number; result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown } } };
  };
  const uris = async (who: Record<string, string>) => ((await call(who, 'resources/list')).body.result!.resources as { uri: string }[]).map((r) => r.uri).sort();
  const prompts = async (who: Record<string, string>) => ((await call(who, 'prompts/list')).body.result!.prompts as { name: string }[]).map((p) => p.name).sort();
  const itemLines = (key: 'resource' | 'prompt') => s.audit().filter((l) => l.server === 'everything' && l[key] !== undefined).map((l) => [l.decision, l.method, l[key], l.identity]);

  it('[GW-RESOURCE-RULES] a viewer and a developer list different resources; only what a rule names is listed or readable; each read is audited with the URI', async () => {
    const viewer = await token('viewer', 'ev:read');
    const developer = await token('developer', 'ev:read ev:dev');
    expect(await uris(viewer)).toEqual([`${DOC}features.md`]);
    expect(await uris(developer)).toEqual([`${DOC}architecture.md`, `${DOC}features.md`]);
    // The resources default is deny: a template names no resource and is not listed.
    expect((await call(developer, 'resources/templates/list')).body.result).toEqual({ resourceTemplates: [] });

    const read = await call(viewer, 'resources/read', { uri: `${DOC}features.md` });
    expect(read.status).toBe(200);
    const contents = read.body.result!.contents as { uri: string; text: string }[];
    expect(contents[0]).toMatchObject({ uri: `${DOC}features.md` });
    expect(contents[0]!.text).toContain('# Everything Server - Features');

    // The role can never hold what the rule needs: refused, no step-up.
    const byRole = await call(viewer, 'resources/read', { uri: `${DOC}architecture.md` });
    expect(byRole.status).toBe(200);
    expect(byRole.body.error).toMatchObject({ code: -32003, message: expect.stringMatching(/^Access denied: resource '.*architecture\.md' requires role admin or developer; your role is viewer/) });
    // A developer whose token lacks the scope is sent to step up, naming this server's scope.
    const stepUp = await rpc(url, request('resources/read', { uri: `${DOC}architecture.md` }), await token('developer', 'ev:read'));
    expect(stepUp.status).toBe(403);
    expect(stepUp.headers.get('www-authenticate')).toMatch(/error="insufficient_scope".*scope="ev:dev"/);
    expect(stepUp.headers.get('www-authenticate')).toContain('/.well-known/oauth-protected-resource/mcp/everything');
    // Exists upstream, named by no rule, default deny: as if it did not exist.
    const unnamed = await call(developer, 'resources/read', { uri: `${DOC}how-it-works.md` });
    expect(unnamed.body.error).toMatchObject({ code: -32602, message: `Resource not found: ${DOC}how-it-works.md`, data: { uri: `${DOC}how-it-works.md` } });
    expect((await call(developer, 'resources/read', { uri: 'demo://resource/dynamic/text/1' })).body.error).toMatchObject({ code: -32602 });

    expect(itemLines('resource')).toEqual([
      ['ALLOWED', 'resources/read', `${DOC}features.md`, 'viewer-user'],
      ['DENIED', 'resources/read', `${DOC}architecture.md`, 'viewer-user'],
      ['DENIED', 'resources/read', `${DOC}architecture.md`, 'developer-user'],
      ['DENIED', 'resources/read', `${DOC}how-it-works.md`, 'developer-user'],
      ['DENIED', 'resources/read', 'demo://resource/dynamic/text/1', 'developer-user'],
    ]);
    // The metadata names the scopes of resource and prompt rules too.
    const prm = await (await fetch(`${new URL(url).origin}/.well-known/oauth-protected-resource/mcp/everything`)).json() as { scopes_supported: string[] };
    expect(prm.scopes_supported.sort()).toEqual(['ev:dev', 'ev:read']);
  });

  it('[GW-PROMPT-RULES] a viewer and a developer list different prompts; a get is gated, passed upstream and audited; an upstream refusal is an error in our words with the request id, audited ERROR', async () => {
    const viewer = await token('viewer', 'ev:read');
    const developer = await token('developer', 'ev:read ev:dev');
    expect(await prompts(viewer)).toEqual(['simple-prompt']);
    expect(await prompts(developer)).toEqual(['args-prompt', 'simple-prompt']);

    const simple = await call(viewer, 'prompts/get', { name: 'simple-prompt' });
    expect(simple.body.result!.messages).toEqual([{ role: 'user', content: { type: 'text', text: 'This is a simple prompt without arguments.' } }]);
    const withArgs = await call(developer, 'prompts/get', { name: 'args-prompt', arguments: { city: 'Lisbon' } });
    expect(JSON.stringify(withArgs.body.result!.messages)).toContain('Lisbon');

    expect((await call(viewer, 'prompts/get', { name: 'args-prompt', arguments: { city: 'Lisbon' } })).body.error).toMatchObject({ code: -32003 });
    expect((await call(developer, 'prompts/get', { name: 'completable-prompt' })).body.error).toMatchObject({ code: -32602, message: "Invalid params: unknown prompt 'completable-prompt'" });

    // The upstream refuses a get without its required argument.
    const missing = await call(developer, 'prompts/get', { name: 'args-prompt' });
    expect(missing.body.id).toBe(nextId - 1);
    expect(missing.body.error?.code).toBe(-32602);
    expect(missing.body.error?.message).toMatch(/^The everything server could not get the prompt: .* \(request id [0-9a-f-]{36}\)\.$/);

    expect(itemLines('prompt')).toEqual([
      ['ALLOWED', 'prompts/get', 'simple-prompt', 'viewer-user'],
      ['ALLOWED', 'prompts/get', 'args-prompt', 'developer-user'],
      ['DENIED', 'prompts/get', 'args-prompt', 'viewer-user'],
      ['DENIED', 'prompts/get', 'completable-prompt', 'developer-user'],
      ['ALLOWED', 'prompts/get', 'args-prompt', 'developer-user'],
      ['ERROR', 'prompts/get', 'args-prompt', 'developer-user'],
    ]);
    const withArgsLine = s.audit().find((l) => l.prompt === 'args-prompt' && l.decision === 'ALLOWED');
    expect(withArgsLine?.args).toEqual(['city=[redacted]']);
  });

  it('[GW-RESOURCE-RULES] [GW-PROMPT-RULES] a 2026-07-28 client reads and gets with Mcp-Name naming the URI or prompt; a header that disagrees is refused', async () => {
    const viewer = await token('viewer', 'ev:read');
    const modern = (method: string, params: Record<string, unknown>, name: string) =>
      rpc(url, { jsonrpc: '2.0', id: 91, method, params: { ...params, _meta: MODERN_META } }, { ...viewer, 'mcp-protocol-version': '2026-07-28', 'mcp-method': method, 'mcp-name': name });
    const read = await (await modern('resources/read', { uri: `${DOC}features.md` }, `${DOC}features.md`)).json();
    expect(read).toMatchObject({ id: 91, result: { contents: [{ uri: `${DOC}features.md` }] } });
    const got = await (await modern('prompts/get', { name: 'simple-prompt' }, 'simple-prompt')).json();
    expect(got).toMatchObject({ id: 91, result: { messages: [{ role: 'user' }] } });

    const mismatch = await modern('resources/read', { uri: `${DOC}features.md` }, `${DOC}architecture.md`);
    expect(mismatch.status).toBe(400);
    expect((await mismatch.json()).error).toMatchObject({ code: -32020 });
    expect(s.audit().at(-1)).toMatchObject({ decision: 'DENIED', reason: 'protocol: header mismatch (Mcp-Name)' });
  });

  it('[GW-RESOURCE-RULES] the built-in database server keeps answering empty resource and prompt lists', async () => {
    const viewer = bearer(await issuer.sign({ aud: s.url, sub: 'viewer-user', role: 'viewer', scope: 'db:read' }));
    expect(await (await rpc(s.url, request('resources/list'), viewer)).json()).toMatchObject({ result: { resources: [] } });
    expect(await (await rpc(s.url, request('prompts/list'), viewer)).json()).toMatchObject({ result: { prompts: [] } });
  });
});
