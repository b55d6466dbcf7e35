import Database from 'better-sqlite3';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { privateModeWarnings, writePrivateFileOnce } from '@stack/crypto';
import { buildApp as buildAuthApp } from '../apps/auth-server/src/app.ts';
import { run as backup } from '../apps/auth-server/src/cli/backup.ts';
import { loadAuthConfig } from '../apps/auth-server/src/config.ts';
import { buildApp as buildMcpApp } from '../apps/mcp-server/src/app.ts';
import { loadMcpConfig } from '../apps/mcp-server/src/config.ts';

// DATA_DIR holds password and client-secret hashes, wrapped keys and audit trails: created 0700,
// every file in it 0600, and an existing one that is wider is reported at start.
const mode = (p: string) => statSync(p).mode & 0o777;
const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'perm-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

// The usual umask of a login shell or container: without explicit modes files would be 0644.
let umask: number;
beforeEach(() => { umask = process.umask(0o022); });
afterEach(() => { process.umask(umask); });

function logCapture() {
  const lines: { level: number; msg: string }[] = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => {
    for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as { level: number; msg: string });
  });
  return { logger: { level: 'warn', stream }, warnings: () => lines.filter((l) => l.level === 40).map((l) => l.msg) };
}

const authEnv = (dataDir: string) => ({
  NODE_ENV: 'test', AUTH_ISSUER: 'http://127.0.0.1:9', DATA_DIR: dataDir, MCP_PUBLIC_ORIGIN: 'http://127.0.0.1:4999', DATABASE_URL: '', REDIS_URL: '', KEY_ENCRYPTION_KEY: '',
});
const mcpEnv = (dataDir: string) => ({
  NODE_ENV: 'test', MCP_HOST: '127.0.0.1', MCP_PORT: '9', MCP_PUBLIC_URL: 'http://127.0.0.1:9/mcp', DATA_DIR: dataDir, MCP_AUTH_MODE: 'apikey', REVOCATION_POLL_SECONDS: '0', REDIS_URL: '',
});

describe('[HARD-DATA-DIR-PRIVATE] data directory and files are private', () => {
  it('a fresh DATA_DIR is created 0700 and every file the two servers create in it is 0600', async () => {
    const dataDir = join(fresh(), 'data');
    const auth = await buildAuthApp(loadAuthConfig(authEnv(dataDir)), { logger: false });
    // A write so the WAL and shared-memory files exist.
    await auth.ctx.keys.rotate();
    const mcp = await buildMcpApp(loadMcpConfig(mcpEnv(dataDir)), { logger: false });
    try {
      expect(mode(dataDir).toString(8)).toBe('700');
      const files = ['auth.db', 'auth.db-wal', 'auth.db-shm', 'kek.key', 'auth-audit.log', 'mcp.db', 'mcp.db-wal', 'mcp.db-shm', 'demo.db', 'demo.db-wal', 'demo.db-shm', 'mcp-audit.log'];
      for (const f of files) expect(`${f} ${mode(join(dataDir, f)).toString(8)}`).toBe(`${f} 600`);
    } finally {
      await mcp.close();
      await auth.close();
    }
  });

  it('an existing DATA_DIR or file open to other users is reported at start, one line each, and left as it is', async () => {
    const dataDir = join(fresh(), 'data');
    mkdirSync(dataDir, { mode: 0o755 });
    chmodSync(dataDir, 0o755);
    const db = new Database(join(dataDir, 'auth.db'));
    db.close();
    chmodSync(join(dataDir, 'auth.db'), 0o644);
    const log = logCapture();
    const app = await buildAuthApp(loadAuthConfig(authEnv(dataDir)), { logger: log.logger });
    await app.close();
    const warnings = log.warnings();
    expect(warnings).toContain(`${dataDir} is open to other users (mode 0755); it holds secrets: chmod 700 '${dataDir}'`);
    expect(warnings).toContain(`${join(dataDir, 'auth.db')} is open to other users (mode 0644); it holds secrets: chmod 600 '${join(dataDir, 'auth.db')}'`);
    expect(warnings).toHaveLength(2);
    expect(mode(dataDir)).toBe(0o755);
    expect(mode(join(dataDir, 'auth.db'))).toBe(0o644);

    chmodSync(join(dataDir, 'auth.db'), 0o600);
    chmodSync(dataDir, 0o700);
    const quiet = logCapture();
    await (await buildAuthApp(loadAuthConfig(authEnv(dataDir)), { logger: quiet.logger })).close();
    expect(quiet.warnings()).toEqual([]);
  });

  it('the MCP server reports a wide demo database at start too', async () => {
    const dataDir = fresh();
    closeSync(openSync(join(dataDir, 'demo.db'), 'w', 0o644));
    chmodSync(join(dataDir, 'demo.db'), 0o640);
    const log = logCapture();
    const app = await buildMcpApp(loadMcpConfig(mcpEnv(dataDir)), { logger: log.logger, tools: [] });
    await app.close();
    expect(log.warnings()).toEqual([`${join(dataDir, 'demo.db')} is open to other users (mode 0640); it holds secrets: chmod 600 '${join(dataDir, 'demo.db')}'`]);
  });

  it('backups are written 0600 into a 0700 folder', async () => {
    const dataDir = join(fresh(), 'data');
    await (await buildAuthApp(loadAuthConfig(authEnv(dataDir)), { logger: false })).close();
    const to = join(fresh(), 'backup');
    const out = new PassThrough();
    const code = await backup(['--to', to], { stdin: new PassThrough(), stdout: out, stderr: out, env: authEnv(dataDir) });
    expect(code, String(out.read())).toBe(0);
    expect(mode(to)).toBe(0o700);
    expect(mode(join(to, 'auth.db'))).toBe(0o600);
    const copy = new Database(join(to, 'auth.db'), { readonly: true });
    expect(copy.prepare('SELECT count(*) FROM signing_keys').pluck().get()).toBe(1);
    copy.close();
  });

  it('the shared helpers: one writer wins an exclusive create, and modes are reported without content', () => {
    const dir = fresh();
    const file = join(dir, 'nested', 'key');
    expect(writePrivateFileOnce(file, 'first')).toBe(true);
    expect(writePrivateFileOnce(file, 'second')).toBe(false);
    expect(mode(join(dir, 'nested'))).toBe(0o700);
    expect(mode(file)).toBe(0o600);
    chmodSync(file, 0o604);
    const w = privateModeWarnings([join(dir, 'nested'), join(dir, 'missing')]);
    expect(w).toEqual([`${file} is open to other users (mode 0604); it holds secrets: chmod 600 '${file}'`]);
    expect(w.join()).not.toContain('first');
  });
});
