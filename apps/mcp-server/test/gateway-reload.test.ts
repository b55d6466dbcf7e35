import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, listTools, rpc, startMcpServer, useIssuer, type TestMcpServer } from './helpers.ts';
import { EVERYTHING_ENTRY } from './upstream-helpers.ts';

const EVERYTHING = `{ command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(EVERYTHING_ENTRY)}, stdio] }`;

/** A stack file with the built-in server and server-everything; the parts a test changes are parameters. */
const stackFile = (o: { devRoles?: string; getSum?: string; resourcesDefault?: string; upstream?: string; extra?: string } = {}) => `
roles: [admin, developer, viewer]
scopes:
  "db:read": { description: "Read data", roles: [admin, developer, viewer] }
  "ev:read": { description: "Demo tools", roles: [admin, developer, viewer] }
  "ev:dev": { description: "Developer demo tools", roles: [${o.devRoles ?? 'admin, developer'}] }
servers:
  - name: database
    path: /mcp
    upstream: { builtin: database }
    default: { roles: [admin, developer, viewer], scopes: ["db:read"] }
  - name: everything
    path: /mcp/everything
    upstream: ${o.upstream ?? EVERYTHING}
    tools:
      echo: { roles: [admin, developer, viewer], scopes: ["ev:read"] }
      get-sum: ${o.getSum ?? '{ roles: [admin, developer], scopes: ["ev:dev"] }'}
    resources:
      default: ${o.resourcesDefault ?? 'deny'}
${o.extra ?? ''}`;

/**
 * A reload of the stack file (what SIGHUP does, through the app's reload function): the gateway
 * servers' rules and the role scopes change at once; what needs a restart is reported and kept.
 */
describe('gateway: reloading the stack file', () => {
  const issuer = useIssuer();
  let dir: string;
  let file: string;
  let s: TestMcpServer;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-gateway-reload-'));
    file = join(dir, 'stack.yaml');
    writeFileSync(file, stackFile());
    s = await startMcpServer({ AUTH_ISSUER: issuer.url, STACK_FILE: file }, { policy: undefined });
    url = `${new URL(s.url).origin}/mcp/everything`;
  });
  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // The same token before and after: what it grants is capped by the role scopes in force.
  const viewer = async () => bearer(await issuer.sign({ aud: url, sub: 'viewer-user', role: 'viewer', scope: 'ev:read ev:dev' }));
  const tools = async () => ((await (await rpc(url, listTools(), await viewer())).json()).result.tools as { name: string }[]).map((t) => t.name).sort();
  const templates = async () => (await (await rpc(url, { jsonrpc: '2.0', id: 5, method: 'resources/templates/list', params: {} }, await viewer())).json()).result.resourceTemplates as { uriTemplate: string }[];

  it('[GW-STACK-RELOAD] [GW-RULES-RELOAD] a changed rule, default and role scope apply to the next request; a server added is reported as needing a restart', async () => {
    expect(await tools()).toEqual(['echo']);
    expect(await templates()).toEqual([]);

    writeFileSync(file, stackFile({
      devRoles: 'admin, developer, viewer',
      getSum: '{ roles: [admin, developer, viewer], scopes: ["ev:dev"] }',
      resourcesDefault: '{ roles: [admin, developer, viewer], scopes: ["ev:read"] }',
      extra: '  - name: extra\n    path: /mcp/extra\n    upstream: { url: "http://127.0.0.1:9/mcp" }\n    default: deny\n',
    }));
    const outcome = s.app.mcp.reload();
    expect(outcome).toEqual({ ok: true, line: '[OK] Stack file reloaded: built-in rules (6 tools), server everything, role scopes; restart to apply: server extra added' });
    // get-sum needs ev:dev, which a viewer may hold only under the new role scopes.
    expect(await tools()).toEqual(['echo', 'get-sum']);
    expect((await templates()).map((t) => t.uriTemplate)).toEqual(expect.arrayContaining(['demo://resource/dynamic/text/{resourceId}']));
    expect((await rpc(`${new URL(s.url).origin}/mcp/extra`, listTools(), await viewer())).status).toBe(404);
  });

  it('[GW-RULES-RELOAD] a changed upstream is reported and that server keeps its rules until a restart', async () => {
    writeFileSync(file, stackFile({ devRoles: 'admin, developer, viewer', upstream: `{ command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(EVERYTHING_ENTRY)}, stdio, extra] }` }));
    const outcome = s.app.mcp.reload();
    expect(outcome.ok).toBe(true);
    expect(outcome.line).toMatch(/restart to apply: server everything: upstream changed$/);
    expect(outcome.line).not.toContain('server everything,');
    expect(await tools()).toEqual(['echo', 'get-sum']);
  });

  it('[GW-STACK-RELOAD] an invalid file is refused in one line naming its problems, and every rule in force is kept', async () => {
    writeFileSync(file, stackFile({ getSum: '{ roles: [admin], scopes: ["ev:nope"] }' }));
    const outcome = s.app.mcp.reload();
    expect(outcome.ok).toBe(false);
    expect(outcome.line).toMatch(/^\[ERROR\] Stack file not reloaded, keeping the running rules: .*ev:nope/);
    expect(outcome.line).not.toContain('\n');
    expect(await tools()).toEqual(['echo', 'get-sum']);
    expect((await templates()).length).toBeGreaterThan(0);
  });
});
