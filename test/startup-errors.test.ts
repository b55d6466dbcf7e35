import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAuthConfig } from '../apps/auth-server/src/config.ts';
import { resolveKeks } from '../apps/auth-server/src/services/kek.ts';
import { createKeyStore } from '../apps/auth-server/src/services/keys.ts';
import { openStore } from '../apps/auth-server/src/store/index.ts';
import { dispatch } from '../scripts/admin.ts';
import { freePort } from './helpers/ports.ts';

const ROOT = resolve(import.meta.dirname, '..');
const b64 = (k: Buffer) => k.toString('base64');

interface Run { code: number | null; stdout: string; stderr: string }

/**
 * Starts an app's main.ts as `npm start` does, with only the given settings. Resolves when it
 * exits, or (with `untilReady`) once it prints that line, after stopping it with SIGTERM.
 */
function start(app: 'auth-server' | 'mcp-server', env: Record<string, string>, untilReady?: RegExp): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `apps/${app}/src/main.ts`], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'warn', AUTH_METRICS_PORT: '0', MCP_METRICS_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (untilReady?.test(stdout)) child.kill('SIGTERM');
    });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', fail);
    child.on('close', (code) => { clearTimeout(timer); done({ code, stdout, stderr }); });
  });
}

/** The lines of stderr that are not configuration warnings. */
const problems = (r: Run) => r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('[WARN]'));

function expectOneSentence(r: Run, app: string, pattern: RegExp): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.code).not.toBeNull();
  expect(r.stderr).not.toMatch(/^\s+at /m);
  const lines = problems(r);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^${app}: cannot start: `));
  expect(lines[0]).toMatch(pattern);
}

function occupy(port: number): Promise<Server> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(port, '127.0.0.1', () => ok(s));
  });
}

async function admin(env: Record<string, string>, args: string[]): Promise<number> {
  const sink = { write: () => true };
  return dispatch(args, { stdin: Readable.from([]), stdout: sink, stderr: sink, env: { NODE_ENV: 'test', ...env } });
}

describe('[HARD-STARTUP-MESSAGE] start-up failures', () => {
  let dir: string;
  const oldKek = randomBytes(32);
  const newKek = randomBytes(32);
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'startup-'));
    // A data directory as a first start leaves it: the auth database with its signing key.
    const config = loadAuthConfig({ NODE_ENV: 'test', DATA_DIR: dir, KEY_ENCRYPTION_KEY: b64(oldKek) });
    const store = await openStore(config, { unavailable: () => {}, recovered: () => {} });
    await createKeyStore(store.signingKeys, resolveKeks(config), Date.now, config.accessTokenTtl).active();
    await store.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('[HARD-STARTUP-MESSAGE] auth server with the wrong key-encryption key: one sentence naming the key and the way out, exit 1, no stack', async () => {
    const r = await start('auth-server', { DATA_DIR: dir, AUTH_PORT: String(await freePort()), KEY_ENCRYPTION_KEY: b64(newKek) });
    expectOneSentence(r, 'auth-server', /signing key \S+ is wrapped by key-encryption key \S+, which is not configured: set KEY_ENCRYPTION_KEY_PREVIOUS/);
  });

  it('[HARD-STARTUP-MESSAGE] [HARD-KEK-ROTATE-ALL] after keys rotate-kek the auth server starts without KEY_ENCRYPTION_KEY_PREVIOUS', async () => {
    expect(await admin({ DATA_DIR: dir, KEY_ENCRYPTION_KEY: b64(newKek), KEY_ENCRYPTION_KEY_PREVIOUS: b64(oldKek) }, ['keys', 'rotate-kek'])).toBe(0);
    const r = await start('auth-server', { DATA_DIR: dir, AUTH_PORT: String(await freePort()), KEY_ENCRYPTION_KEY: b64(newKek) }, /Authorization server ready/);
    expect(r.stdout).toContain('Authorization server ready');
    expect(problems(r)).toEqual([]);
  });

  it('[HARD-STARTUP-MESSAGE] a port already in use: one sentence naming the address and the setting, for both apps', async () => {
    const port = await freePort();
    const taken = await occupy(port);
    try {
      const auth = await start('auth-server', { DATA_DIR: dir, AUTH_PORT: String(port), KEY_ENCRYPTION_KEY: b64(newKek) });
      expectOneSentence(auth, 'auth-server', new RegExp(`127\\.0\\.0\\.1:${port} is already in use .*AUTH_PORT`));
      const mcp = await start('mcp-server', { DATA_DIR: dir, MCP_PORT: String(port), KEY_ENCRYPTION_KEY: b64(newKek) });
      expectOneSentence(mcp, 'mcp-server', new RegExp(`127\\.0\\.0\\.1:${port} is already in use .*MCP_PORT`));
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  it('[HARD-STARTUP-MESSAGE] an unreachable database and an unusable data directory: one sentence each', async () => {
    const closed = await freePort();
    const pg = await start('auth-server', {
      DATA_DIR: dir, AUTH_PORT: String(await freePort()), KEY_ENCRYPTION_KEY: b64(newKek), DATABASE_URL: `postgres://nobody@127.0.0.1:${closed}/nothing`,
    });
    expectOneSentence(pg, 'auth-server', new RegExp(`nothing accepts connections at 127\\.0\\.0\\.1:${closed} \\(is the database running\\? check DATABASE_URL\\)`));
    // A data directory under a file cannot be created.
    const file = join(dir, 'auth.db');
    const auth = await start('auth-server', { DATA_DIR: join(file, 'sub'), AUTH_PORT: String(await freePort()), KEY_ENCRYPTION_KEY: b64(newKek) });
    expectOneSentence(auth, 'auth-server', /a part of the path is a file, not a folder \(check DATA_DIR\)/);
    const mcp = await start('mcp-server', { DATA_DIR: join(file, 'sub'), MCP_PORT: String(await freePort()) });
    expectOneSentence(mcp, 'mcp-server', /a part of the path is a file, not a folder \(check DATA_DIR\)/);
  });
});
