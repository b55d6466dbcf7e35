import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArgon2Slots } from '../src/services/argon2-slots.ts';
import { verifyPassword } from '../src/services/users.ts';
import { openTestDatabase, type TestDatabase } from './helpers.ts';
import { adminProcess } from './cli-helpers.ts';

const PASSWORD = 'piped-Passw0rd-from-stdin';
// The command's slots are its own; checking what it wrote needs a set too.
const argon2 = createArgon2Slots();

const admin = adminProcess;

describe('admin CLI as a process (npm run admin)', () => {
  let db: TestDatabase;
  beforeAll(async () => { db = await openTestDatabase(); });
  afterAll(() => db.close());

  it('users add reads the password piped on stdin (one trailing newline trimmed) into the DATA_DIR database', async () => {
    const r = await admin(db.env, ['users', 'add', '--email', 'first@example.org', '--role', 'admin', '--password-stdin'], `${PASSWORD}\n`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^created user first@example\.org with role admin/);
    expect(r.stdout + readFileSync(join(db.dir, 'auth-audit.log'), 'utf8')).not.toContain(PASSWORD);
    expect(await verifyPassword({ store: db.store, argon2 }, 'first@example.org', PASSWORD)).toMatchObject({ role: 'admin' });
  });

  it('exits 1 for a duplicate user and 2 for bad usage', async () => {
    const dup = await admin(db.env, ['users', 'add', '--email', 'first@example.org', '--role', 'admin', '--password-stdin'], PASSWORD);
    expect(dup).toMatchObject({ code: 1, stdout: '', stderr: 'error: a user with email first@example.org already exists\n' });
    const bad = await admin(db.env, ['users', 'add', '--email', 'x@example.org', '--password', PASSWORD]);
    expect(bad.code).toBe(2);
    expect(bad.stdout + bad.stderr).not.toContain(PASSWORD);
  });

  it('keys rotate then keys list: the next key is published before it signs, the current one stays published', async () => {
    expect((await admin(db.env, ['keys', 'rotate'])).code).toBe(0);
    const r = await admin(db.env, ['keys', 'rotate']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^new signing key [0-9a-f-]{36}/);
    const list = await admin(db.env, ['keys', 'list', '--json']);
    expect(list.code).toBe(0);
    const keys = JSON.parse(list.stdout) as { state: string; retiredAt: number | null; published: boolean }[];
    expect(keys.map((k) => [k.state, k.retiredAt === null, k.published])).toEqual([['next', true, true], ['current', false, true]]);
  });
});
