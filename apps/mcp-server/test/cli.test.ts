import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { CliIo } from '@stack/cli';
import { run as apikeys } from '../src/cli/apikeys.ts';
import { run as audit } from '../src/cli/audit.ts';
import { bearer, callTool, listTools, rpc, startIssuer, startMcpServer } from './helpers.ts';
import { createMcpTestSchema, TEST_MCP_DB } from './store-helpers.ts';

function io(env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = { stdin: Readable.from([]), stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env };
  return { value, out: () => out.join(''), err: () => err.join('') };
}

describe('admin CLI: apikeys', () => {
  let dataDir: string;
  let env: Record<string, string>;
  // The CLI and the server share the store: mcp.db, or with TEST_MCP_DB=postgres a fresh schema.
  let store: Record<string, string>;
  let dropSchema: (() => Promise<void>) | undefined;
  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'mcp-cli-'));
    const schema = TEST_MCP_DB === 'postgres' ? await createMcpTestSchema() : undefined;
    dropSchema = schema?.drop;
    store = schema?.env ?? { MCP_DATABASE_PATH: join(dataDir, 'mcp.db') };
    env = { NODE_ENV: 'test', DATA_DIR: dataDir, ...schema?.env };
  });
  afterEach(async () => {
    await dropSchema?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('creates a key shown once, lists it without the value, revokes it, and the server follows', async () => {
    const c = io(env);
    expect(await apikeys(['create', '--name', 'ci bot', '--role', 'developer', '--expires-in-days', '30'], c.value)).toBe(0);
    const key = /^(mcpk_\S+)$/m.exec(c.out())![1]!;
    const id = /id (\S+),/.exec(c.out())![1]!;

    await using s = await startMcpServer({ MCP_AUTH_MODE: 'apikey', ...store });
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
    expect(c.err()).toMatch(/--role must be one of the roles stack\.yaml declares: admin, developer, viewer/);
    expect(await apikeys(['create', '--role', 'viewer'], io(env).value)).toBe(2);
    expect(await apikeys(['create', '--name', 'x', '--role', 'viewer', '--expires-in-days', '0'], io(env).value)).toBe(2);
    expect(await apikeys(['revoke', '--id', 'nope'], io(env).value)).toBe(1);
    expect(await apikeys(['frobnicate'], io(env).value)).toBe(2);
  });
});

describe('admin CLI: audit verify', () => {
  const sha = (x: string) => createHash('sha256').update(x).digest('hex');
  /** Recomputes every unkeyed `prev` from line `from` on, as someone without the key would after an edit. */
  const rehash = (lines: string[], from: number) => {
    const out = [...lines];
    for (let i = from; i < out.length; i++) out[i] = out[i]!.replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${sha(out[i - 1]!)}"`);
    return out;
  };

  it('[HARD-AUDIT-VERIFY-CLI] reports the server\'s own log intact, and each of edited, deleted, reordered, truncated, re-chained and replaced with exit code 1', async () => {
    const issuer = await startIssuer();
    // The server's own audit log (keyed from the KEK, anchored in mcp.db), not the tests' in-memory one.
    const s = await startMcpServer({ AUTH_ISSUER: issuer.url }, { audit: undefined });
    try {
      const t = bearer(await issuer.sign({ aud: s.url, role: 'developer', scope: 'db:read db:write' }));
      await rpc(s.url, listTools()); // AUTH_FAILED
      await rpc(s.url, callTool('query', { sql: 'select 1' }), t); // ALLOWED
      await rpc(s.url, callTool('delete_users', { ids: [1] }), t); // DENIED
      await rpc(s.url, callTool('query', { sql: 42 }), t); // INVALID_INPUT
      for (let i = 0; i < 3; i++) await rpc(s.url, callTool('query', { sql: 'select 1' }), t);
      await issuer.close();
      await s.app.close(); // anchors the chain's head in mcp.db
      const env = { NODE_ENV: 'test', DATA_DIR: s.dataDir, ...s.dbEnv };
      const original = readFileSync(s.auditFile, 'utf8').trimEnd().split('\n');
      const events = original.map((l) => JSON.parse(l));
      expect(events.map((e) => e.decision)).toEqual([undefined, 'AUTH_FAILED', 'ALLOWED', 'DENIED', 'INVALID_INPUT', 'ALLOWED', 'ALLOWED', 'ALLOWED']);
      for (const e of events.slice(1)) for (const k of ['seq', 'time', 'request_id', 'decision', 'reason', 'transport', 'prev', 'mac']) expect(e).toHaveProperty(k);

      const ok = io(env);
      expect(await audit(['verify', s.auditFile], ok.value)).toBe(0);
      expect(ok.out()).toMatch(/^OK: 8 lines, chain \S+ \(mcp-server\) in 1 file ending audit\.log, seq 0–7, every MAC valid, anchored at seq 7 /);

      const verifyAs = async (lines: string[]) => {
        writeFileSync(s.auditFile, `${lines.join('\n')}\n`);
        const r = io(env);
        const code = await audit(['verify', s.auditFile], r.value);
        return { code, err: r.err() };
      };
      const edited = [...original];
      edited[3] = edited[3]!.replace('"DENIED"', '"ALLOWED"');
      const reordered = [...original];
      [reordered[4], reordered[5]] = [reordered[5]!, reordered[4]!];
      const rechained = [...original];
      rechained[3] = rechained[3]!.replace('"DENIED"', '"ALLOWED"');
      const cases: [string, string[]][] = [
        ['edited', edited],
        ['deleted', original.filter((_, i) => i !== 3)],
        ['reordered', reordered],
        ['truncated', original.slice(0, 6)],
        ['re-chained', rehash(rechained, 4)],
      ];
      for (const [kind, lines] of cases) {
        const r = await verifyAs(lines);
        expect(r.code, kind).toBe(1);
        expect(r.err.split('\n')[0], kind).toMatch(new RegExp(`^${kind}: `));
        expect(r.err, kind).toMatch(/^error: \S+ is NOT intact: \d problems?, listed above$/m);
      }
      // Replaced: a well-formed log written under another key, in place of the real one.
      const { AuditLog, deriveAuditKeys } = await import('@stack/audit');
      writeFileSync(s.auditFile, '');
      const forged = await AuditLog.open({ file: s.auditFile, keys: deriveAuditKeys([{ id: events[0].kid, key: Buffer.alloc(32, 3) }]), app: 'mcp-server' });
      forged.write({ event: 'mcp.decision', decision: 'ALLOWED' });
      await forged.close();
      const replaced = io(env);
      expect(await audit(['verify', s.auditFile], replaced.value)).toBe(1);
      expect(replaced.err()).toMatch(/^replaced: no line matches its MAC, from the first .*\nreplaced: chain \S+ is not recorded in the database/);

      expect(await audit(['verify'], io(env).value)).toBe(2);
    } finally {
      // The app is closed already; this removes the data directory (and, on PostgreSQL, the schema).
      await s.close();
    }
  });
});
