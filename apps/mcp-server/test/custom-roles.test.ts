import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '@stack/cli';
import { openSqliteMcpStore } from '../src/store/sqlite.ts';
import { createApiKeyStore } from '@stack/mcp-auth';
import { run as apikeys } from '../src/cli/apikeys.ts';
import { bearer, callTool, handlerCalls, listTools, rpc, startIssuer, startMcpServer, type TestIssuer, type TestMcpServer } from './helpers.ts';

// The built-in server with a fourth role: auditor may hold audit:read (no one else may) and call
// `query` with it; the other tools are the three built-in roles'.
const STACK = `
roles: [admin, developer, viewer, auditor]
scopes:
  "db:read":    { description: "Read data", roles: [admin, developer, viewer] }
  "db:admin":   { description: "Administer the database", roles: [admin] }
  "audit:read": { description: "Read the audit trail", roles: [auditor] }
servers:
  - name: database
    path: /mcp
    upstream: { builtin: database }
    auth: [oauth, apikey]
    tools:
      list_tables:  { roles: [admin, developer, viewer], scopes: ["db:read"] }
      query:        { roles: [auditor], scopes: ["audit:read"] }
      drop_table:   { roles: [admin], scopes: ["db:admin"] }
`;

function io(env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = { stdin: Readable.from([]), stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env };
  return { value, out: () => out.join(''), err: () => err.join('') };
}

const toolNames = async (res: Response) => ((await res.json()) as { result: { tools: { name: string }[] } }).result.tools.map((t) => t.name);

describe('custom roles in the MCP app', () => {
  let dir: string;
  let stackFile: string;
  let issuer: TestIssuer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-roles-'));
    stackFile = join(dir, 'stack.yaml');
    writeFileSync(stackFile, STACK);
    issuer = await startIssuer();
  });
  afterAll(async () => {
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('oauth', () => {
    let s: TestMcpServer;
    const token = (claims: Record<string, unknown>) => issuer.sign({ aud: s.url, ...claims });
    beforeAll(async () => {
      s = await startMcpServer({ AUTH_ISSUER: issuer.url, STACK_FILE: stackFile });
    });
    afterAll(async () => { await s.close(); });

    it('[GW-CUSTOM-ROLES] accepts a token with the declared role auditor, capped to the auditor\'s scopes, and lists and runs its tool', async () => {
      // db:admin is not the auditor's: it is dropped from the identity (and would not reach drop_table's rule anyway).
      const auth = bearer(await token({ sub: 'aud-1', role: 'auditor', scope: 'audit:read db:admin' }));
      const list = await rpc(s.url, listTools(), auth);
      expect(list.status).toBe(200);
      expect(await toolNames(list)).toEqual(['query']);
      const before = handlerCalls.length;
      const call = await rpc(s.url, callTool('query', { sql: 'SELECT 1' }), auth);
      expect(call.status).toBe(200);
      expect(((await call.json()) as { result: { isError?: boolean; content: { text: string }[] } }).result).toMatchObject({ content: [{ text: 'query ok' }] });
      expect(handlerCalls.slice(before).map((c) => c.ctx.identity)).toEqual([expect.objectContaining({ subject: 'aud-1', role: 'auditor', scopes: ['audit:read'] })]);
      // An admin token cannot reach the auditor's tool: the rule names auditor only.
      const admin = bearer(await token({ sub: 'adm-1', role: 'admin', scope: 'db:read db:admin audit:read' }));
      expect(await toolNames(await rpc(s.url, listTools(), admin))).toEqual(['list_tables', 'drop_table']);
    });

    it('[GW-CUSTOM-ROLES] refuses a token whose role the stack file does not declare: 401 invalid_token, audited with the reason', async () => {
      const res = await rpc(s.url, listTools(), bearer(await token({ sub: 'x-1', role: 'ghost', scope: 'audit:read' })));
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token", error_description="token has role 'ghost', which this server does not declare"/);
      expect(s.audit().at(-1)).toMatchObject({ decision: 'AUTH_FAILED', reason: "token has role 'ghost', which this server does not declare" });
    });
  });

  it('[GW-CUSTOM-ROLES] API keys: the CLI creates one for a declared custom role and refuses another, listing the declared; a key whose role is not declared is refused (401)', async () => {
    const dataDir = mkdtempSync(join(dir, 'keys-'));
    const env = { NODE_ENV: 'test', DATA_DIR: dataDir, STACK_FILE: stackFile };
    const created = io(env);
    expect(await apikeys(['create', '--name', 'audit bot', '--role', 'auditor'], created.value)).toBe(0);
    const key = /^(mcpk_\S+)$/m.exec(created.out())![1]!;
    const refused = io(env);
    expect(await apikeys(['create', '--name', 'x', '--role', 'ghost'], refused.value)).toBe(2);
    expect(refused.err()).toMatch(/^error: --role must be one of the roles stack\.yaml declares: admin, developer, viewer, auditor\n/);
    // A key left from a file that declared 'ghost' (written as the store would have then).
    const db = openSqliteMcpStore(join(dataDir, 'mcp.db'));
    const stale = await createApiKeyStore(db.apiKeys, Date.now, () => ['audit:read']).create({ name: 'stale', role: 'ghost' });
    await db.close();

    await using s = await startMcpServer({ MCP_AUTH_MODE: 'apikey', STACK_FILE: stackFile, MCP_DATABASE_PATH: join(dataDir, 'mcp.db') });
    const ok = await rpc(s.url, listTools(), bearer(key));
    expect(ok.status).toBe(200);
    expect(await toolNames(ok)).toEqual(['query']);
    const gone = await rpc(s.url, listTools(), bearer(stale.key));
    expect(gone.status).toBe(401);
    expect(gone.headers.get('www-authenticate')).toMatch(/error="invalid_token", error_description="api key has role 'ghost', which this server does not declare"/);
  });
});
