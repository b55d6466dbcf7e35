import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, callTool, freePort, listTools, rpc, startMcpServer, useIssuer, type TestMcpServer } from './helpers.ts';
import { fixture } from './upstream-helpers.ts';
import type { GatewayEndpoint } from '../src/gateway/upstream-endpoint.ts';

const toolText = (body: { result?: { content?: { text?: string }[] } }) => body.result?.content?.[0]?.text ?? '';

/**
 * Reaching the upstream: who the catalogue is asked for under per-identity isolation, what a caller
 * sees when the upstream cannot be reached at all, and that the public metadata never reaches it.
 */
describe('gateway: reaching the upstream', () => {
  const issuer = useIssuer();
  let dir: string;
  let s: TestMcpServer;
  let origin: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-gateway-reach-'));
    // A port nothing listens on.
    const gone = await freePort();
    writeFileSync(join(dir, 'stack.yaml'), `
roles: [admin, developer, viewer]
scopes:
  "db:read": { description: "Read data", roles: [admin, developer, viewer] }
  "demo:use": { description: "Demo tools", roles: [admin, developer, viewer] }
servers:
  - name: database
    path: /mcp
    upstream: { builtin: database }
    default: { roles: [admin, developer, viewer], scopes: ["db:read"] }
  - name: mine
    path: /mcp/mine
    isolation: per-identity
    max_children: 4
    upstream: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(fixture('stdio-mcp.mjs'))}] }
    tools:
      pid: { roles: [admin, developer, viewer], scopes: ["demo:use"] }
      echo: { roles: [admin, developer, viewer], scopes: ["demo:use"] }
  - name: gone
    path: /mcp/gone
    timeout_seconds: 2
    upstream: { url: "http://127.0.0.1:${gone}/mcp" }
    tools:
      echo: { roles: [admin, developer, viewer], scopes: ["demo:use"] }
`);
    s = await startMcpServer({ AUTH_ISSUER: issuer.url, STACK_FILE: join(dir, 'stack.yaml') }, { policy: undefined });
    origin = new URL(s.url).origin;
  });
  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const token = async (path: string, sub: string) => bearer(await issuer.sign({ aud: `${origin}${path}`, sub, role: 'viewer', scope: 'demo:use' }));
  const endpoint = (name: string) => s.app.mcp.endpoints.find((e) => e.name === name) as GatewayEndpoint;

  it('[GW-UPSTREAM-ISOLATION] a per-identity server lists and calls its tools in the caller\'s own child; its public metadata starts none', async () => {
    const prm = await (await fetch(`${origin}/.well-known/oauth-protected-resource/mcp/mine`)).json() as Record<string, unknown>;
    expect(prm).toMatchObject({ resource: `${origin}/mcp/mine`, scopes_supported: ['demo:use'] });
    expect(endpoint('mine').upstream.health().children).toBe(0);

    const alice = await token('/mcp/mine', 'alice');
    const bob = await token('/mcp/mine', 'bob');
    const names = async (who: Record<string, string>) => ((await (await rpc(`${origin}/mcp/mine`, listTools(), who)).json()).result.tools as { name: string }[]).map((t) => t.name).sort();
    expect(await names(alice)).toEqual(['echo', 'pid']);
    expect(await names(bob)).toEqual(['echo', 'pid']);
    const pid = async (who: Record<string, string>) => toolText(await (await rpc(`${origin}/mcp/mine`, callTool('pid', {}), who)).json());
    const [a1, b1, a2] = [await pid(alice), await pid(bob), await pid(alice)];
    expect(a1).toMatch(/^\d+$/);
    expect(b1).toMatch(/^\d+$/);
    expect(a2).toBe(a1);
    expect(b1).not.toBe(a1);
    expect(endpoint('mine').upstream.health().children).toBe(2);
  });

  it('[GW-UPSTREAM-HTTP] an upstream that cannot be reached gives the caller JSON-RPC answers with its id, never a 5xx; other servers keep serving', async () => {
    const who = await token('/mcp/gone', 'carol');
    const list = await rpc(`${origin}/mcp/gone`, listTools(), who);
    expect(list.status).toBe(200);
    expect((await list.json()).result.tools).toEqual([]);
    const call = await rpc(`${origin}/mcp/gone`, { ...callTool('echo', { message: 'x' }), id: 41 }, who);
    expect(call.status).toBeLessThan(500);
    const body = await call.json() as { id: number; error?: { message: string }; result?: unknown };
    expect(body.id).toBe(41);
    expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|at .*\.ts:\d+/);
    expect(toolText(await (await rpc(`${origin}/mcp/mine`, callTool('echo', { message: 'still here' }), await token('/mcp/mine', 'carol'))).json())).toBe('still here');
  });
});
