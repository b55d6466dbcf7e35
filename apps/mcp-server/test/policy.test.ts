import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPolicyFile, parsePolicy, PolicyError } from '../src/policy.ts';
import { bearer, freePort, listTools, rpc, startIssuer, type TestIssuer } from './helpers.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const DEFAULT_POLICY = join(ROOT, 'apps/mcp-server/policy.yaml');
const DEFAULT_STACK = join(ROOT, 'stack.yaml');

describe('policy file', () => {
  it('the default policy follows the role/scope matrix in the README', () => {
    const p = loadPolicyFile(DEFAULT_POLICY);
    const view = Object.fromEntries(Object.entries(p.tools).map(([k, v]) => [k, { roles: [...v.roles], scopes: [...v.scopes] }]));
    expect(view).toEqual({
      list_tables: { roles: ['admin', 'developer', 'viewer'], scopes: ['db:read'] },
      describe_table: { roles: ['admin', 'developer', 'viewer'], scopes: ['db:read'] },
      query: { roles: ['admin', 'developer', 'viewer'], scopes: ['db:read'] },
      execute_sql: { roles: ['admin', 'developer'], scopes: ['db:write'] },
      delete_users: { roles: ['admin'], scopes: ['db:admin'] },
      drop_table: { roles: ['admin'], scopes: ['db:admin'] },
    });
    expect(p.scopesSupported).toEqual(['db:read', 'db:write', 'db:admin']);
    expect([...p.expand(['db:admin'])].sort()).toEqual(['db:admin', 'db:read', 'db:write']);
    // Only the map's own keys imply anything: a scope named like an Object.prototype member does not throw.
    expect([...p.expand(['constructor', 'toString'])]).toEqual(['toString', 'constructor']);
  });

  it('[MCP-RS-NO-OFFLINE-ACCESS] rejects invalid policies, listing every problem', () => {
    expect(() => parsePolicy({ tools: { x: { roles: ['root'], scopes: [] }, y: { roles: ['admin'], scopes: ['offline_access'] } }, extra: 1 }))
      .toThrow(PolicyError);
    try {
      parsePolicy({ tools: { x: { roles: ['root'], scopes: [] }, y: { roles: ['admin'], scopes: ['offline_access'] } }, extra: 1 });
    } catch (err) {
      const m = (err as Error).message;
      expect(m).toMatch(/tools\.x\.roles\.0/);
      expect(m).toMatch(/tools\.x\.scopes/);
      expect(m).toMatch(/offline_access is not a tool scope/);
      expect(m).toMatch(/extra/);
    }
    const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-'));
    writeFileSync(join(dir, 'p.json'), JSON.stringify({ tools: { list_tables: { roles: ['viewer'], scopes: ['db:read'] } } }));
    expect(Object.keys(loadPolicyFile(join(dir, 'p.json')).tools)).toEqual(['list_tables']);
    writeFileSync(join(dir, 'bad.yaml'), 'tools: [unclosed');
    expect(() => loadPolicyFile(join(dir, 'bad.yaml'))).toThrow(/not valid YAML/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('npm run mcp-server (main.ts over HTTP)', () => {
  let issuer: TestIssuer;
  let dir: string;
  let child: ChildProcess;
  let out = '';
  const waitFor = async (re: RegExp) => {
    for (let i = 0; i < 200 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    expect(out).toMatch(re);
  };

  beforeAll(async () => {
    issuer = await startIssuer();
    dir = mkdtempSync(join(tmpdir(), 'mcp-main-'));
    copyFileSync(DEFAULT_STACK, join(dir, 'stack.yaml'));
  });
  afterAll(async () => {
    child?.kill('SIGTERM');
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('[GW-STACK-RELOAD] takes its rules from the stack file, prints what is enabled, serves, and reloads on SIGHUP (keeping the rules when the new file is invalid)', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/mcp`;
    // node --import tsx (not the tsx CLI, which does not relay SIGHUP to its child).
    child = spawn(process.execPath, ['--import', 'tsx', 'apps/mcp-server/src/main.ts', '--auth-mode=oauth', `--audit-log=${join(dir, 'audit.log')}`], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH, NODE_ENV: 'test', MCP_PORT: String(port), MCP_METRICS_PORT: '0', MCP_PUBLIC_URL: url, AUTH_ISSUER: issuer.url,
        DATA_DIR: dir, STACK_FILE: join(dir, 'stack.yaml'), REVOCATION_POLL_SECONDS: '0', LOG_LEVEL: 'silent',
      },
    });
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    await waitFor(/MCP server ready on/);
    expect(out).toContain(`[OK] OAuth token validation enabled (issuer ${issuer.url})\n`);
    expect(out).toMatch(/\[OK\] Role-based access control active \(policy \S+stack\.yaml, 6 tools\)\n/);
    expect(out).toMatch(/\[OK\] Audit logging to \S+audit\.log\n/);
    expect(out).toContain('[OK] Rate limiting: 100 req/min per user\n');
    expect(out).toContain(`MCP server ready on ${url}\n`);

    const t = bearer(await issuer.sign({ aud: url, role: 'viewer', scope: 'db:read' }));
    const count = async () => (await (await rpc(url, listTools(), t)).json()).result.tools.length;
    expect(await count()).toBe(3);

    const original = readFileSync(join(dir, 'stack.yaml'), 'utf8');
    const yaml = original.replace(/ {6}query:\n {8}roles: \[admin, developer, viewer\]/, '      query:\n        roles: [admin, developer]');
    expect(yaml).not.toBe(original);
    writeFileSync(join(dir, 'stack.yaml'), yaml);
    child.kill('SIGHUP');
    await waitFor(/\[OK\] Stack file reloaded: built-in rules \(6 tools\), role scopes\n/);
    expect(await count()).toBe(2);

    writeFileSync(join(dir, 'stack.yaml'), 'servers: []\n');
    child.kill('SIGHUP');
    await waitFor(/\[ERROR\] Stack file not reloaded, keeping the running rules: [^\n]*servers[^\n]*\n/);
    expect(await count()).toBe(2);
  });
});
