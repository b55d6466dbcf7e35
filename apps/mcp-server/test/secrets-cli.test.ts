import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeKek } from '@stack/crypto';
import { run } from '../src/cli/secrets.ts';
import { secretsSettings } from '../src/secrets/keks.ts';
import { createSecretStore } from '../src/secrets/store.ts';
import { openMcpStore } from '../src/store/index.ts';
import { createMcpTestSchema, TEST_MCP_DB } from './store-helpers.ts';

// SQLite here; PostgreSQL in the mcp-postgres project (TEST_MCP_DB), a fresh schema per test.
let dir: string;
let dropSchema: (() => Promise<void>) | undefined;
let env: Record<string, string | undefined>;
const keyA = randomBytes(32);
const keyB = randomBytes(32);

async function cli(args: string[], opts: { stdin?: string; env?: Record<string, string | undefined> } = {}) {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdin: Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]),
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: opts.env ?? env,
  });
  return { code, stdout, stderr };
}

async function readSecret(name: string, key: Buffer): Promise<string | undefined> {
  const db = await openMcpStore(secretsSettings(env));
  try {
    return await createSecretStore(db.secrets, [makeKek(key)]).get(name);
  } finally {
    await db.close();
  }
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-secrets-cli-'));
  const schema = TEST_MCP_DB === 'postgres' ? await createMcpTestSchema() : undefined;
  dropSchema = schema?.drop;
  // DATABASE_SCHEMA too: rotate-kek re-wraps the authorization server's keys in the same database.
  const where = schema ? { ...schema.env, DATABASE_SCHEMA: schema.schema } : { MCP_DATABASE_PATH: join(dir, 'control', 'mcp.db') };
  env = { DATA_DIR: dir, ...where, KEY_ENCRYPTION_KEY: keyA.toString('base64'), NODE_ENV: 'test' };
});
afterEach(async () => {
  await dropSchema?.();
  rmSync(dir, { recursive: true, force: true });
});

describe('secrets CLI', () => {
  it('set reads the value from stdin; list shows names, never values', async () => {
    const set = await cli(['set', 'github.token'], { stdin: 'ghp_s3cret\n' });
    expect(set).toEqual({ code: 0, stdout: 'secret github.token stored\n', stderr: '' });
    expect(await readSecret('github.token', keyA)).toBe('ghp_s3cret');
    const list = await cli(['list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+UPDATED\ngithub\.token\s+\d{4}-\d\d-\d\dT/);
    expect(list.stdout + list.stderr).not.toContain('ghp_s3cret');
    const json = await cli(['list', '--json']);
    expect(JSON.parse(json.stdout)).toEqual([{ name: 'github.token', updatedAt: expect.any(String) }]);
  });

  it('refuses a value given as an argument without echoing it, and an empty stdin', async () => {
    const r = await cli(['set', 'github.token', 'ghp_in_argv']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/value is read from standard input/);
    expect(r.stdout + r.stderr).not.toContain('ghp_in_argv');
    expect((await cli(['set', 'x'], { stdin: '' })).code).toBe(1);
    if (TEST_MCP_DB === 'sqlite') expect(existsSync(env.MCP_DATABASE_PATH!)).toBe(false);
  });

  it('exits 2 on bad usage: no command, unknown command, get, bad name', async () => {
    for (const args of [[], ['get', 'github.token'], ['frobnicate'], ['set'], ['set', 'bad name'], ['set', '../x'], ['list', '--all'], ['rotate-kek', 'now']]) {
      const r = await cli(args, { stdin: 'v' });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^error: /);
    }
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/set NAME/);
    expect(help.stdout).not.toMatch(/\bget\b/);
  });

  it('delete removes a secret and fails (1) for an unknown one', async () => {
    await cli(['set', 'a'], { stdin: 'v' });
    expect(await cli(['delete', 'a'])).toEqual({ code: 0, stdout: 'secret a deleted\n', stderr: '' });
    const again = await cli(['delete', 'a']);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('error: no secret named a\n');
    expect((await cli(['list'])).stdout).toBe('no secrets stored\n');
  });

  it('rotate-kek re-wraps every secret under KEY_ENCRYPTION_KEY using KEY_ENCRYPTION_KEY_PREVIOUS', async () => {
    await cli(['set', 'one'], { stdin: 'first' });
    await cli(['set', 'two'], { stdin: 'second' });
    const rotated = { ...env, KEY_ENCRYPTION_KEY: keyB.toString('base64'), KEY_ENCRYPTION_KEY_PREVIOUS: keyA.toString('base64') };
    const r = await cli(['rotate-kek'], { env: rotated });
    expect(r).toEqual({
      code: 0,
      stdout: TEST_MCP_DB === 'sqlite'
        ? 'no authorization-server database here: no signing keys to re-wrap\n2 secret(s) re-wrapped under the current key-encryption key\n'
          + 'every envelope now uses the current key-encryption key: KEY_ENCRYPTION_KEY_PREVIOUS can be removed\n'
        // With DATABASE_URL the authorization server's keys are in the same database (none yet).
        : '0 signing key(s) re-wrapped under the current key-encryption key (PostgreSQL (DATABASE_URL))\n0 authenticator app secret(s) re-wrapped\n'
          + '2 secret(s) re-wrapped under the current key-encryption key (PostgreSQL)\n'
          + 'every envelope now uses the current key-encryption key: KEY_ENCRYPTION_KEY_PREVIOUS can be removed\n',
      stderr: '',
    });
    expect(await readSecret('one', keyB)).toBe('first');
    expect(await readSecret('two', keyB)).toBe('second');
    await expect(readSecret('one', keyA)).rejects.toThrow(/could not be decrypted/);
    // Without the old key the rotation cannot open the data keys, and nothing changes.
    await cli(['set', 'three'], { stdin: 'third', env: rotated });
    const lost = await cli(['rotate-kek'], { env: { ...env, KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') } });
    expect(lost.code).toBe(1);
    expect(lost.stderr).toMatch(/^error: (the signing keys were re-wrapped but the MCP secrets were not \(run the command again once fixed\): )?no key-encryption key with id/);
    expect(await readSecret('three', keyB)).toBe('third');
  });

  it('reports an invalid KEY_ENCRYPTION_KEY as a configuration error (exit 1)', async () => {
    const r = await cli(['list'], { env: { ...env, KEY_ENCRYPTION_KEY: 'too-short' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/KEY_ENCRYPTION_KEY: must be 32 bytes/);
  });
});
