import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { CliIo } from '@stack/config';
import { run as apikeys } from '../src/cli/apikeys.ts';
import { run as audit } from '../src/cli/audit.ts';
import { bearer, callTool, listTools, rpc, startIssuer, startMcpServer } from './helpers.ts';

function io(env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = { stdin: Readable.from([]), stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env };
  return { value, out: () => out.join(''), err: () => err.join('') };
}

describe('admin CLI: apikeys', () => {
  let dataDir: string;
  let env: Record<string, string>;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'mcp-cli-'));
    env = { NODE_ENV: 'test', DATA_DIR: dataDir };
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('creates a key shown once, lists it without the value, revokes it, and the server follows', async () => {
    const c = io(env);
    expect(await apikeys(['create', '--name', 'ci bot', '--role', 'developer', '--expires-in-days', '30'], c.value)).toBe(0);
    const key = /^(mcpk_\S+)$/m.exec(c.out())![1]!;
    const id = /id (\S+),/.exec(c.out())![1]!;

    await using s = await startMcpServer({ MCP_AUTH_MODE: 'apikey', MCP_DATABASE_PATH: join(dataDir, 'mcp.db') });
    expect((await rpc(s.url, listTools(), bearer(key))).status).toBe(200);

    const l = io(env);
    expect(await apikeys(['list'], l.value)).toBe(0);
    expect(l.out()).toMatch(new RegExp(`${id}\\s+ci bot\\s+developer\\s+\\S+\\s+\\d{4}-\\S+\\s+active`));
    expect(l.out()).not.toContain(key.slice(-20));

    const r = io(env);
    expect(await apikeys(['revoke', '--id', id], r.value)).toBe(0);
    expect((await rpc(s.url, listTools(), bearer(key))).status).toBe(401);
    const l2 = io(env);
    await apikeys(['list', '--json'], l2.value);
    expect(JSON.parse(l2.out())[0]).toMatchObject({ id, status: 'revoked' });
    // Admin actions are audited, never with the key.
    const log = readFileSync(join(dataDir, 'mcp-audit.log'), 'utf8');
    expect(log).toContain('admin.apikey_created');
    expect(log).toContain('admin.apikey_revoked');
    expect(log).not.toContain(key.slice(-20));
  });

  it('refuses bad usage with exit code 2', async () => {
    const c = io(env);
    expect(await apikeys(['create', '--name', 'x', '--role', 'root'], c.value)).toBe(2);
    expect(c.err()).toMatch(/--role must be one of admin, developer, viewer/);
    expect(await apikeys(['create', '--role', 'viewer'], io(env).value)).toBe(2);
    expect(await apikeys(['create', '--name', 'x', '--role', 'viewer', '--expires-in-days', '0'], io(env).value)).toBe(2);
    expect(await apikeys(['revoke', '--id', 'nope'], io(env).value)).toBe(1);
    expect(await apikeys(['frobnicate'], io(env).value)).toBe(2);
  });
});

describe('admin CLI: audit verify', () => {
  it('prints OK with the line count for an intact log, and the first tampered line otherwise', async () => {
    const issuer = await startIssuer();
    await using s = await startMcpServer({ AUTH_ISSUER: issuer.url });
    const t = bearer(await issuer.sign({ aud: s.url, role: 'developer', scope: 'db:read db:write' }));
    await rpc(s.url, listTools()); // AUTH_FAILED
    await rpc(s.url, callTool('query', { sql: 'select 1' }), t); // ALLOWED
    await rpc(s.url, callTool('delete_users', { ids: [1] }), t); // DENIED
    await rpc(s.url, callTool('query', { sql: 42 }), t); // INVALID_INPUT
    await issuer.close();
    const decisions = s.audit().map((l) => l.decision);
    expect(decisions).toEqual(['AUTH_FAILED', 'ALLOWED', 'DENIED', 'INVALID_INPUT']);
    for (const l of s.audit()) {
      for (const k of ['time', 'request_id', 'decision', 'reason', 'transport', 'prev']) expect(l).toHaveProperty(k);
    }

    const ok = io({});
    expect(await audit(['verify', s.auditFile], ok.value)).toBe(0);
    expect(ok.out()).toMatch(/^OK: 4 lines, hash chain intact/);

    const lines = readFileSync(s.auditFile, 'utf8').split('\n');
    lines[2] = lines[2]!.replace('"DENIED"', '"ALLOWED"');
    writeFileSync(s.auditFile, lines.join('\n'));
    const bad = io({});
    expect(await audit(['verify', s.auditFile], bad.value)).toBe(1);
    // Line 3 was edited, so line 4's stored hash of its predecessor no longer matches.
    expect(bad.err()).toMatch(/NOT intact: line 4: hash chain broken/);

    const removed = readFileSync(s.auditFile, 'utf8').split('\n');
    removed.splice(1, 1);
    writeFileSync(s.auditFile, removed.join('\n'));
    const bad2 = io({});
    expect(await audit(['verify', s.auditFile], bad2.value)).toBe(1);
    expect(bad2.err()).toMatch(/line 2:/);
    expect(await audit(['verify'], io({}).value)).toBe(2);
  });
});
