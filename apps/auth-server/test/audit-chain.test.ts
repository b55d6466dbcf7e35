import { readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AuditChainError } from '@stack/audit';
import type { CliIo } from '@stack/cli';
import { dispatch } from '../../../scripts/admin.ts';
import { buildApp } from '../src/app.ts';
import { loadAuthConfig } from '../src/config.ts';
import { authorizeUrl, validParams } from './authorize-flow.ts';
import { startAuthServer } from './helpers.ts';

async function admin(env: Record<string, string>, args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdin: Readable.from([]), stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env: { NODE_ENV: 'test', ...env } };
  const code = await dispatch(args, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

const path = (url: string) => { const u = new URL(url); return `${u.pathname}${u.search}`; };

describe('audit log of the authorization server', () => {
  it('[HARD-AUDIT-AGGREGATE-FAILURES] [HARD-AUDIT-VALUE-CAPS] 1000 bad /authorize requests from one address: a bounded number of short lines', async () => {
    await using s = await startAuthServer();
    const bad = path(authorizeUrl(s, validParams(`unknown-${'x'.repeat(2000)}`, `https://evil.example/${'y'.repeat(2000)}`)));
    for (let i = 0; i < 1000; i++) expect((await s.app.inject({ method: 'GET', url: bad })).statusCode).toBe(400);
    const full = s.auditEvents().filter((e) => e.event === 'authorize.error');
    expect(full).toHaveLength(10);
    s.app.ctx.auditFailures.flush();
    const summaries = s.auditEvents().filter((e) => e.event === 'audit.failures_summarized');
    expect(summaries).toEqual([expect.objectContaining({ address: '127.0.0.1', count: 990, kinds: ['authorize.error=990'], decision: 'deny' })]);
    const lines = readFileSync(`${s.dataDir}/audit.log`, 'utf8').trimEnd().split('\n').slice(1);
    expect(lines).toHaveLength(11);
    for (const l of lines) expect(Buffer.byteLength(l)).toBeLessThanOrEqual(1100);
    expect(full.every((e) => String(e.client).length <= 200)).toBe(true);
  });

  it('[HARD-AUDIT-RESUME-REFUSED] [HARD-AUDIT-ANCHOR] refuses to start from a log cut short since its last anchor; audit verify says truncated; record starts a new chain', async () => {
    // The server's own log (DATA_DIR/auth-audit.log, keyed from the KEK, anchored in its store).
    const s = await startAuthServer({ AUDIT_ON_BROKEN_CHAIN: 'refuse' }, { audit: undefined });
    try {
      const bad = path(authorizeUrl(s, validParams('no-such-client', 'https://evil.example/cb')));
      for (let i = 0; i < 3; i++) await s.app.inject({ method: 'GET', url: bad });
      await s.app.close(); // anchors the head of the chain in the store
      const file = s.config.auditLog!;
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      expect(lines.map((l) => JSON.parse(l).event)).toEqual(['audit.chain_started', 'authorize.error', 'authorize.error', 'authorize.error']);
      const env = { DATA_DIR: s.dataDir, ...s.dbEnv };
      expect(await admin(env, ['audit', 'verify', file])).toMatchObject({ code: 0, stderr: '' });

      writeFileSync(file, `${lines.slice(0, 2).join('\n')}\n`);
      const refused = buildApp(s.config, { logger: false });
      await expect(refused).rejects.toThrow(AuditChainError);
      await expect(refused).rejects.toThrow(/the file ends at seq 1, but the database anchored seq 3 of chain \S+ at \S+ \(truncated\)\. Refusing to start/);
      const verified = await admin(env, ['audit', 'verify', file]);
      expect(verified.code).toBe(1);
      expect(verified.stderr).toMatch(/^truncated: the log ends at line 2 of auth-audit\.log \(seq 1\), but the database anchored seq 3 at /);

      // The explicit way on: the old file is kept, and the new chain's first line records the break.
      const recorded = await buildApp(loadAuthConfig({ ...envOf(s.config), AUDIT_ON_BROKEN_CHAIN: 'record' }), { logger: false });
      await recorded.close();
      expect(JSON.parse(readFileSync(file, 'utf8').split('\n')[0]!)).toMatchObject({ event: 'audit.chain_broken', reason: expect.stringMatching(/truncated/) });
    } finally {
      await s.close();
    }
  });
});

/** The settings a config was loaded from, enough to load it again with one changed. */
function envOf(c: ReturnType<typeof loadAuthConfig>): Record<string, string> {
  return {
    NODE_ENV: 'test', AUTH_ISSUER: c.issuer, DATA_DIR: c.dataDir, MCP_PUBLIC_ORIGIN: c.mcpPublicOrigin, STACK_FILE: c.stackFile, LOG_LEVEL: 'silent',
    ...(c.postgres ? { DATABASE_URL: c.postgres.url, DATABASE_SCHEMA: c.postgres.schema, KEY_ENCRYPTION_KEY: c.keyEncryptionKey!.toString('base64') } : { AUTH_DATABASE_PATH: c.databasePath }),
  };
}
