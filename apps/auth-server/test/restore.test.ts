import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { openMcpDb, sqliteAuditAnchors } from '@stack/db';
import { loadMcpConfig } from '../../mcp-server/src/config.ts';
import { openMcpAuditLog } from '../../mcp-server/src/pipeline/audit-log.ts';
import { buildApp } from '../src/app.ts';
import { loadAuthConfig } from '../src/config.ts';
import { openStore } from '../src/store/index.ts';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { freePort, startAuthServer, TEST_DB } from './helpers.ts';
import { admin } from './cli-helpers.ts';
import { signInAt } from './admin-fixtures.ts';
import { Browser } from './authorize-flow.ts';
import { addClient, addUser, login, refresh, RESOURCE } from './token-fixtures.ts';

// Backup and restore are SQLite-only (PostgreSQL has pg_dump / pg_restore).
const ROOT = resolve(import.meta.dirname, '../../..');
const KEK = Buffer.alloc(32, 9).toString('base64');
const dirs: string[] = [];
const fresh = (p: string) => { const d = mkdtempSync(join(tmpdir(), p)); dirs.push(d); return d; };
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const envFor = (dataDir: string) => ({ DATA_DIR: dataDir, KEY_ENCRYPTION_KEY: KEK, AUDIT_MAX_FILE_BYTES: String(64 * 1024) });
const mode = (p: string) => statSync(p).mode & 0o777;

/** A stack's DATA_DIR with a user, a client, both audit logs (the MCP one rotated) and a backup of it. */
async function backedUp(): Promise<{ source: string; backup: string }> {
  const source = join(fresh('restore-src-'), 'data');
  const env = envFor(source);
  await (await buildApp(loadAuthConfig({ NODE_ENV: 'test', ...env }), { logger: false })).close();
  expect((await admin(env, ['users', 'add', '--email', 'kept@example.com', '--role', 'admin', '--password-stdin'], 'Sup3r-Secret-Passw0rd!')).code).toBe(0);
  const store = await openStore(loadAuthConfig({ NODE_ENV: 'test', ...env }), { unavailable: () => {}, recovered: () => {} });
  await store.clients.insert({
    id: 'kept-client', source: 'dcr', secretHash: null, clientName: 'Kept', redirectUris: ['http://127.0.0.1/cb'], grantTypes: ['authorization_code'],
    tokenEndpointAuthMethod: 'none', applicationType: 'native', scope: 'db:read', metadata: {}, createdAt: Date.now(), metadataExpiresAt: null, revokedAt: null,
  });
  await store.close();
  const mcpConfig = loadMcpConfig({ NODE_ENV: 'test', ...env });
  const mcpDb = openMcpDb(mcpConfig.databasePath);
  const log = await openMcpAuditLog(mcpConfig, sqliteAuditAnchors(mcpDb), { stream: process.stdout, onError: (err) => { throw err; } });
  for (let i = 0; i < 300; i++) log.write({ event: 'tool', decision: 'ALLOWED', note: 'x'.repeat(300) });
  await log.close();
  mcpDb.$client.close();
  const backup = join(fresh('restore-bak-'), 'latest');
  const made = await admin(env, ['backup', '--to', backup]);
  expect(made.code, made.stderr).toBe(0);
  return { source, backup };
}

async function restoreInto(target: string, from: string, ...more: string[]) {
  return admin(envFor(target), ['restore', '--from', from, ...more]);
}

/** The real authorization server (apps/auth-server/src/main.ts) on DATA_DIR, once it listens. */
async function startServer(dataDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/auth-server/src/main.ts'], {
    cwd: ROOT, env: { ...process.env, ...envFor(dataDir), NODE_ENV: 'test', AUTH_PORT: '0', AUTH_METRICS_PORT: 'off', AUTH_ISSUER: 'http://127.0.0.1:1' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  await new Promise<void>((ok, fail) => {
    createInterface({ input: child.stdout }).on('line', (l) => { if (l.includes('ready on')) ok(); });
    child.once('exit', () => fail(new Error(`server exited: ${stderr}`)));
  });
  return child;
}

describe.skipIf(TEST_DB === 'postgres')('admin restore', () => {
  it('backup then restore into an empty DATA_DIR: users, clients and both intact audit logs are back, 0600 in 0700 [OPS-RESTORE-ROUNDTRIP] [OPS-RESTORE-MANIFEST]', async () => {
    const { backup } = await backedUp();
    const manifest = JSON.parse(readFileSync(join(backup, 'manifest.json'), 'utf8')) as { created: string; files: { name: string; bytes: number; sha256: string }[] };
    const names = manifest.files.map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['auth.db', 'mcp.db', 'auth-audit.log', 'mcp-audit.log']));
    expect(names.some((n) => /^mcp-audit\.\d{12}\.log$/.test(n))).toBe(true);
    expect(names).not.toContain('kek.key');
    expect(manifest.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256) && f.bytes === statSync(join(backup, f.name)).size)).toBe(true);

    const target = join(fresh('restore-dst-'), 'data');
    const restored = await restoreInto(target, backup);
    expect(restored.code, restored.stderr).toBe(0);
    expect(mode(target)).toBe(0o700);
    for (const n of names) expect(mode(join(target, n)), n).toBe(0o600);
    expect((await admin(envFor(target), ['audit', 'verify', target])).code).toBe(0);
    const users = await admin(envFor(target), ['users', 'list']);
    expect(users.stdout).toContain('kept@example.com');
    expect((await admin(envFor(target), ['clients', 'list'])).stdout).toContain('kept-client');
    // The restored server starts on it (its signing key opens with the same KEK).
    const server = await startServer(target);
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    expect((await admin(envFor(target), ['audit', 'verify', target])).code).toBe(0);
  }, 120_000);

  it('the restored stack serves the same people, clients and tokens: the access token verifies under its JWKS, the refresh token rotates, the person signs in [OPS-RESTORE-SERVES]', async () => {
    // The deployment's own signing key (sealed with the KEK, as a backup carries it), not the tests' fixed one;
    // one port for both servers, so the issuer is the same before and after.
    const opts = { keyPair: undefined };
    const port = String(await freePort());
    const source = join(fresh('restore-live-src-'), 'data');
    const before = await startAuthServer({ ...envFor(source), AUTH_PORT: port }, opts);
    const client = await addClient(before);
    const user = await addUser(before);
    const issued = await login(before, client, user);
    await before.close();
    const backup = join(fresh('restore-live-bak-'), 'latest');
    const made = await admin(envFor(source), ['backup', '--to', backup]);
    expect(made.code, made.stderr).toBe(0);
    const target = join(fresh('restore-live-dst-'), 'data');
    const restored = await restoreInto(target, backup);
    expect(restored.code, restored.stderr).toBe(0);

    const after = await startAuthServer({ ...envFor(target), AUTH_PORT: port }, opts);
    try {
      const jwks = (await (await fetch(`${after.url}/jwks`)).json()) as JSONWebKeySet;
      const { payload } = await jwtVerify(String(issued.access_token), createLocalJWKSet(jwks), { issuer: after.url, audience: RESOURCE });
      expect(payload.sub).toBe(user.id);
      const rotated = await refresh(after, client, String(issued.refresh_token));
      expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
      expect(rotated.body.refresh_token).not.toBe(issued.refresh_token);
      expect((await signInAt(new Browser(after.url), user.email, '/account')).status).toBe(303);
    } finally {
      await after.close();
    }
  }, 120_000);

  it('a changed file, a missing file or a missing manifest is refused with one sentence, nothing restored [OPS-RESTORE-MANIFEST]', async () => {
    const { backup } = await backedUp();
    const target = join(fresh('restore-dst-'), 'data');
    appendFileSync(join(backup, 'auth-audit.log'), '{"forged":true}\n');
    const r = await restoreInto(target, backup);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: ${backup} is not a complete, intact backup: auth-audit.log does not match its size and SHA-256 in manifest.json; restore nothing from it\n`);
    rmSync(join(backup, 'auth-audit.log'));
    expect((await restoreInto(target, backup)).stderr).toContain('auth-audit.log is missing');
    writeFileSync(join(backup, 'manifest.json'), '{"format":1,"files":[{"name":"../kek.key","bytes":1,"sha256":"00"}]}');
    expect((await restoreInto(target, backup)).stderr).toContain('lists a file the stack does not use');
    rmSync(join(backup, 'manifest.json'));
    expect((await restoreInto(target, backup)).stderr).toContain('manifest.json is missing or unreadable');
    expect(existsSync(target)).toBe(false);
  }, 120_000);

  it('existing data is kept: refused without --force, moved to replaced-<time>/ with it [OPS-RESTORE-NO-OVERWRITE]', async () => {
    const { source, backup } = await backedUp();
    const before = readFileSync(join(source, 'auth.db'));
    const refused = await restoreInto(source, backup);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/already holds data \(auth\.db.*\): pass --force/);
    const forced = await restoreInto(source, backup, '--force');
    expect(forced.code, forced.stderr).toBe(0);
    const aside = readdirSync(source).filter((f) => f.startsWith('replaced-'));
    expect(aside).toHaveLength(1);
    expect(mode(join(source, aside[0]!))).toBe(0o700);
    expect(readFileSync(join(source, aside[0]!, 'auth.db')).equals(before)).toBe(true);
    expect(readdirSync(join(source, aside[0]!))).toEqual(expect.arrayContaining(['mcp.db', 'auth-audit.log', 'mcp-audit.log']));
    expect((await admin(envFor(source), ['audit', 'verify', source])).code).toBe(0);
  }, 120_000);

  it('refuses while a server process has the database open, even with --force; PostgreSQL is pg_restore [OPS-RESTORE-SERVER-STOPPED]', async () => {
    const { source, backup } = await backedUp();
    const server = await startServer(source);
    try {
      const r = await restoreInto(source, backup, '--force');
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`error: a server has ${join(source, 'auth.db')} open: stop both servers before restoring\n`);
      expect(readdirSync(source).some((f) => f.startsWith('replaced-'))).toBe(false);
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
    const pg = await admin({ ...envFor(source), DATABASE_URL: 'postgres://127.0.0.1:1/none' }, ['restore', '--from', backup]);
    expect(pg.code).toBe(1);
    expect(pg.stderr).toContain('restore it with pg_restore');
  }, 120_000);
});
