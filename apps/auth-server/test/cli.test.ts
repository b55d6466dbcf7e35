import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dispatch } from '../../../scripts/admin.ts';
import { createArgon2Slots } from '../src/services/argon2-slots.ts';
import { findUserByEmail, verifyPassword } from '../src/services/users.ts';
import { PUBLISH_LEAD_MS } from '../src/services/keys.ts';
import { TEST_DB, openTestDatabase, startAuthServer, type TestDatabase } from './helpers.ts';
import { admin } from './cli-helpers.ts';

const PASSWORD = 'Sup3r-Secret-Passw0rd!';
// The command's slots are its own; checking what it wrote needs a set too.
const argon2 = createArgon2Slots();

/** Inserts a client, and for a user one token family: a refresh token, a live and an expired access token, a session. */
async function seedClient(db: TestDatabase, id: string, clientName = 'Test client'): Promise<void> {
  await db.store.clients.insert({
    id, source: 'dcr', secretHash: null, clientName, redirectUris: ['http://127.0.0.1/callback'], grantTypes: ['authorization_code', 'refresh_token'],
    tokenEndpointAuthMethod: 'none', applicationType: 'native', scope: 'db:read', metadata: {}, createdAt: Date.now(), metadataExpiresAt: null, revokedAt: null,
  });
}

async function seedGrant(db: TestDatabase, userId: string, clientId: string) {
  const now = Date.now();
  const familyId = randomUUID();
  const live = randomUUID();
  const expired = randomUUID();
  await db.sql(
    'insert into refresh_tokens (id, token_hash, family_id, client_id, user_id, scope, resource, created_at, expires_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    randomUUID(), randomUUID(), familyId, clientId, userId, 'db:read', 'http://127.0.0.1:4999/mcp', now, now + 86_400_000,
  );
  for (const [jti, expiresAt] of [[live, now + 600_000], [expired, now - 1000]] as const) {
    await db.sql('insert into issued_access_tokens (jti, family_id, client_id, user_id, expires_at) values (?, ?, ?, ?, ?)', jti, familyId, clientId, userId, expiresAt);
  }
  await db.store.sessions.create({ idHash: randomUUID(), userId, createdAt: now, expiresAt: now + 3_600_000 }, now);
  return { familyId, live, expired };
}

const revokedJtis = async (db: TestDatabase) => (await db.sql<{ jti: string }>('select jti from revoked_access_tokens')).map((r) => r.jti);
const familyRevoked = async (db: TestDatabase, familyId: string) =>
  (await db.sql<{ revoked_at: number | null }>('select revoked_at from refresh_tokens where family_id = ?', familyId)).every((r) => r.revoked_at !== null);
const sessionsOf = (db: TestDatabase, userId: string) => db.sql('select * from sessions where user_id = ?', userId);

describe('admin CLI (in-process)', () => {
  let db: TestDatabase;
  beforeEach(async () => { db = await openTestDatabase(); });
  afterEach(() => db.close());
  const auditLog = () => readFileSync(join(db.dir, 'auth-audit.log'), 'utf8');
  // Event lines only, not the chain's own header lines.
  const auditEvents = () => auditLog().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => !String(e.event).startsWith('audit.'));
  const addUser = (email: string, role = 'developer', pw = PASSWORD) =>
    admin(db.env, ['users', 'add', '--email', email, '--role', role, '--password-stdin'], `${pw}\n`);

  it('users add reads the password from stdin, trims one newline, and users list shows the user (plain and --json)', async () => {
    const r = await addUser('Ada@Example.org', 'admin');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^created user ada@example\.org with role admin \(id [0-9a-f-]{36}\)\n$/);
    expect(await verifyPassword({ store: db.store, argon2 }, 'ada@example.org', PASSWORD)).toBeDefined();
    expect(await verifyPassword({ store: db.store, argon2 }, 'ada@example.org', `${PASSWORD}\n`)).toBeUndefined();

    const list = await admin(db.env, ['users', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^EMAIL\s+ROLE\s+STATUS\s+CREATED\s+ID$/);
    expect(list.stdout).toMatch(/ada@example\.org\s+admin\s+active/);
    const json = JSON.parse((await admin(db.env, ['users', 'list', '--json'])).stdout);
    expect(json).toEqual([expect.objectContaining({ email: 'ada@example.org', role: 'admin', status: 'active', disabledAt: null })]);
    expect(json[0].passwordHash).toBeUndefined();
    expect(auditEvents()).toEqual([expect.objectContaining({ event: 'admin.user_added', actor: 'cli', decision: 'allow', email: 'ada@example.org', role: 'admin' })]);
    const verified = await admin(db.env, ['audit', 'verify', join(db.dir, 'auth-audit.log')]);
    expect(verified).toMatchObject({ code: 0, stderr: '' });
    expect(verified.stdout).toMatch(/^OK: 2 lines, chain \S+ \(auth-server\) in 1 file ending auth-audit\.log, seq 0–1, every MAC valid, anchored at seq 1 /);
  });

  it('a running server sees a user the CLI added to its DATA_DIR', async () => {
    await using s = await startAuthServer();
    const r = await admin({ DATA_DIR: s.dataDir, ...s.dbEnv }, ['users', 'add', '--email', 'ops@example.org', '--role', 'viewer', '--password-stdin'], PASSWORD);
    expect(r.code).toBe(0);
    const user = await verifyPassword(s.app.ctx, 'ops@example.org', PASSWORD);
    expect(user).toMatchObject({ email: 'ops@example.org', role: 'viewer' });
  });

  it('refuses a duplicate email (case-insensitive) and a short password with exit 1 and a one-line error', async () => {
    expect((await addUser('dup@example.org')).code).toBe(0);
    const dup = await addUser('DUP@example.org');
    expect(dup).toEqual({ code: 1, stdout: '', stderr: 'error: a user with email dup@example.org already exists\n' });
    const short = await admin(db.env, ['users', 'add', '--email', 'x@example.org', '--role', 'viewer', '--password-stdin'], 'short\n');
    expect(short).toEqual({ code: 1, stdout: '', stderr: 'error: password must be at least 12 characters\n' });
    expect(await findUserByEmail(db.store, 'x@example.org')).toBeUndefined();
  });

  it('exits 2 with a usage error for bad usage, and 0 for help', async () => {
    const cases: string[][] = [
      [],
      ['frobnicate'],
      ['users'],
      ['users', 'frob'],
      ['users', 'add', '--role', 'admin', '--password-stdin'],
      ['users', 'add', '--email', 'a@example.org', '--role', 'root', '--password-stdin'],
      ['users', 'add', '--email', 'a@example.org', '--role', 'admin'],
      ['users', 'list', '--bogus'],
      ['users', 'set-role', '--email', 'a@example.org'],
      ['clients', 'revoke'],
      ['keys', 'rotate', 'now'],
    ];
    for (const args of cases) {
      const r = await admin(db.env, args, PASSWORD);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr, args.join(' ')).toMatch(/error: |Usage: /);
    }
    expect((await admin(db.env, ['users', 'add', '--email', 'a@example.org', '--role', 'root', '--password-stdin'])).stderr)
      .toMatch(/^error: --role must be one of the roles stack\.yaml declares: admin, developer, viewer\n/);
    const tty = Object.assign(Readable.from([]), { isTTY: true });
    const ttyErr: string[] = [];
    const ttyCode = await dispatch(['users', 'add', '--email', 'a@example.org', '--role', 'admin', '--password-stdin'],
      { stdin: tty, stdout: { write: () => true }, stderr: { write: (s: string) => ttyErr.push(s) }, env: { NODE_ENV: 'test', ...db.env } });
    expect(ttyCode).toBe(2);
    expect(ttyErr.join('')).toMatch(/^error: --password-stdin needs the password piped in/);
    const help = await admin(db.env, ['help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/users\s+add, list, set-role, disable, enable users/);
    const usersHelp = await admin(db.env, ['users', '--help']);
    expect(usersHelp.code).toBe(0);
    expect(usersHelp.stdout).toContain('--password-stdin');
  });

  it('never echoes the password: not as an argument, not as a stray value, not in output or the audit log', async () => {
    const asArg = await admin(db.env, ['users', 'add', '--email', 'p@example.org', '--role', 'viewer', `--password=${PASSWORD}`]);
    expect(asArg.code).toBe(2);
    expect(asArg.stderr).toMatch(/^error: passwords are not accepted as arguments/);
    const stray = await admin(db.env, ['users', 'add', '--email', 'p@example.org', '--role', 'viewer', PASSWORD, '--password-stdin']);
    expect(stray.code).toBe(2);
    const ok = await addUser('p@example.org');
    const dup = await addUser('p@example.org');
    for (const r of [asArg, stray, ok, dup]) expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    expect(auditLog()).not.toContain(PASSWORD);
    expect(JSON.stringify(await db.sql('select * from users'))).not.toContain(PASSWORD);
    if (TEST_DB === 'sqlite') expect(readFileSync(join(db.dir, 'auth.db')).includes(PASSWORD)).toBe(false);
  });

  it('[RFC9700-REFRESH-SECURITY-EVENT] users disable revokes refresh tokens, sessions and live access tokens, and blocks sign-in', async () => {
    await addUser('dis@example.org');
    await addUser('other@example.org');
    const user = (await findUserByEmail(db.store, 'dis@example.org'))!;
    const other = (await findUserByEmail(db.store, 'other@example.org'))!;
    await seedClient(db, 'c1');
    const g = await seedGrant(db, user.id, 'c1');
    const keep = await seedGrant(db, other.id, 'c1');

    const r = await admin(db.env, ['users', 'disable', '--email', 'dis@example.org']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe('dis@example.org disabled; 1 session(s), 1 refresh token(s) and 1 access token(s) revoked\n');
    expect(await familyRevoked(db, g.familyId)).toBe(true);
    expect(await familyRevoked(db, keep.familyId)).toBe(false);
    expect(await revokedJtis(db)).toEqual([g.live]);
    expect(await sessionsOf(db, user.id)).toEqual([]);
    expect(await sessionsOf(db, other.id)).toHaveLength(1);
    expect(await verifyPassword({ store: db.store, argon2 }, 'dis@example.org', PASSWORD)).toBeUndefined();
    expect(JSON.parse((await admin(db.env, ['users', 'list', '--json'])).stdout)[0]).toMatchObject({ email: 'dis@example.org', status: 'disabled' });
    expect(auditEvents().at(-1)).toMatchObject({ event: 'admin.user_disabled', user: user.id, revoked_refresh: 1, revoked_access: 1, revoked_sessions: 1 });

    const en = await admin(db.env, ['users', 'enable', '--email', 'dis@example.org']);
    expect(en).toEqual({ code: 0, stdout: 'dis@example.org enabled\n', stderr: '' });
    expect(await verifyPassword({ store: db.store, argon2 }, 'dis@example.org', PASSWORD)).toMatchObject({ id: user.id });
    expect(await familyRevoked(db, g.familyId)).toBe(true);
  });

  it('[RFC9700-REFRESH-SECURITY-EVENT] users set-role changes the role and revokes tokens only on a downgrade', async () => {
    await addUser('role@example.org', 'viewer');
    const user = (await findUserByEmail(db.store, 'role@example.org'))!;
    await seedClient(db, 'c1');
    const g1 = await seedGrant(db, user.id, 'c1');
    const up = await admin(db.env, ['users', 'set-role', '--email', 'role@example.org', '--role', 'admin']);
    expect(up).toEqual({ code: 0, stdout: 'role@example.org: role viewer -> admin\n', stderr: '' });
    expect((await findUserByEmail(db.store, 'role@example.org'))!.role).toBe('admin');
    expect(await familyRevoked(db, g1.familyId)).toBe(false);

    const down = await admin(db.env, ['users', 'set-role', '--email', 'role@example.org', '--role', 'developer']);
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/role admin -> developer; 1 session\(s\), 1 refresh token\(s\) and 1 access token\(s\) revoked/);
    expect((await findUserByEmail(db.store, 'role@example.org'))!.role).toBe('developer');
    expect(await familyRevoked(db, g1.familyId)).toBe(true);
    expect(await revokedJtis(db)).toEqual([g1.live]);
    expect(auditEvents().at(-1)).toMatchObject({ event: 'admin.user_role_changed', role: 'developer', previous_role: 'admin' });
  });

  it('exits 1 naming the problem for unknown users and clients', async () => {
    for (const args of [['users', 'set-role', '--email', 'no@example.org', '--role', 'viewer'], ['users', 'disable', '--email', 'no@example.org'], ['users', 'enable', '--email', 'no@example.org']]) {
      expect(await admin(db.env, args)).toEqual({ code: 1, stdout: '', stderr: 'error: no user with email no@example.org\n' });
    }
    expect(await admin(db.env, ['clients', 'revoke', '--client-id', 'nope'])).toEqual({ code: 1, stdout: '', stderr: 'error: no client with id nope\n' });
  });

  it('[RFC9700-REFRESH-SECURITY-EVENT] clients revoke revokes the client and its tokens, not other clients\'', async () => {
    await addUser('u@example.org');
    const user = (await findUserByEmail(db.store, 'u@example.org'))!;
    await seedClient(db, 'bad-client');
    await seedClient(db, 'good-client');
    const bad = await seedGrant(db, user.id, 'bad-client');
    const good = await seedGrant(db, user.id, 'good-client');

    const r = await admin(db.env, ['clients', 'revoke', '--client-id', 'bad-client']);
    expect(r).toEqual({ code: 0, stdout: 'client bad-client revoked; 1 refresh token(s) and 1 access token(s) revoked\n', stderr: '' });
    expect(await familyRevoked(db, bad.familyId)).toBe(true);
    expect(await familyRevoked(db, good.familyId)).toBe(false);
    expect(await revokedJtis(db)).toEqual([bad.live]);
    expect((await db.store.clients.find('bad-client'))!.revokedAt).not.toBeNull();
    const json = JSON.parse((await admin(db.env, ['clients', 'list', '--json'])).stdout) as { id: string; status: string }[];
    expect(json.map((c) => [c.id, c.status]).sort()).toEqual([['bad-client', 'revoked'], ['good-client', 'active']]);
    expect(auditEvents().at(-1)).toMatchObject({ event: 'admin.client_revoked', client: 'bad-client', revoked_refresh: 1 });
  });

  it('[HARD-INTROSPECT-AUTHZ] clients set-resource-server marks a confidential client, list shows it, unset clears it; public, revoked and unknown clients are refused', async () => {
    await db.store.clients.insert({
      id: 'rs-client', source: 'dcr', secretHash: 'argon2-hash-placeholder', clientName: 'Resource server', redirectUris: ['https://rs.example/cb'], grantTypes: ['authorization_code'],
      tokenEndpointAuthMethod: 'client_secret_basic', applicationType: 'web', scope: 'db:read', metadata: {}, createdAt: Date.now(), metadataExpiresAt: null, revokedAt: null,
    });
    await seedClient(db, 'public-client');
    expect((await db.store.clients.find('rs-client'))!.resourceServer).toBe(false);
    const set = await admin(db.env, ['clients', 'set-resource-server', '--client-id', 'rs-client']);
    expect(set).toEqual({ code: 0, stdout: 'client rs-client is a resource server: it may introspect tokens issued to any client\n', stderr: '' });
    expect((await db.store.clients.find('rs-client'))!.resourceServer).toBe(true);
    expect(auditEvents().at(-1)).toMatchObject({ event: 'admin.client_resource_server', client: 'rs-client', actor: 'cli' });
    const json = JSON.parse((await admin(db.env, ['clients', 'list', '--json'])).stdout) as { id: string; resourceServer: boolean }[];
    expect(Object.fromEntries(json.map((c) => [c.id, c.resourceServer]))).toEqual({ 'rs-client': true, 'public-client': false });
    expect((await admin(db.env, ['clients', 'list'])).stdout).toMatch(/rs-client\s+Resource server\s+dcr\s+client_secret_basic\s+yes/);

    expect(await admin(db.env, ['clients', 'set-resource-server', '--client-id', 'public-client'])).toEqual({
      code: 1, stdout: '', stderr: 'error: client public-client: the client is public (no secret): introspection needs a confidential client\n',
    });
    expect(await admin(db.env, ['clients', 'set-resource-server', '--client-id', 'nope'])).toMatchObject({ code: 1, stderr: 'error: client nope: no client with that id\n' });
    expect((await admin(db.env, ['clients', 'set-resource-server'])).code).toBe(2);

    expect((await admin(db.env, ['clients', 'unset-resource-server', '--client-id', 'rs-client'])).code).toBe(0);
    expect((await db.store.clients.find('rs-client'))!.resourceServer).toBe(false);
    await admin(db.env, ['clients', 'revoke', '--client-id', 'rs-client']);
    expect((await admin(db.env, ['clients', 'set-resource-server', '--client-id', 'rs-client'])).stderr).toBe('error: client rs-client: the client is revoked\n');
  });

  it('[REG-MODE-7] clients approve approves a pending client (positional id or --client-id), audited; list shows pending, active and revoked; revoked and unknown clients are refused', async () => {
    for (const id of ['waiting-app', 'other-app']) {
      await db.store.clients.insert({
        id, source: 'dcr', secretHash: null, clientName: `Name of ${id}`, redirectUris: ['http://127.0.0.1/callback'], grantTypes: ['authorization_code'],
        tokenEndpointAuthMethod: 'none', applicationType: 'native', scope: 'db:read', metadata: {}, createdAt: Date.now(), metadataExpiresAt: null, revokedAt: null, pendingApproval: true,
      });
    }
    await seedClient(db, 'old-app');
    const statuses = async () => Object.fromEntries((JSON.parse((await admin(db.env, ['clients', 'list', '--json'])).stdout) as { id: string; status: string }[]).map((c) => [c.id, c.status]));
    expect(await statuses()).toEqual({ 'waiting-app': 'pending', 'other-app': 'pending', 'old-app': 'active' });
    expect((await admin(db.env, ['clients', 'list'])).stdout).toMatch(/waiting-app\s+Name of waiting-app\s+dcr\s+.*\spending\s/);

    const r = await admin(db.env, ['clients', 'approve', 'waiting-app']);
    expect(r).toEqual({ code: 0, stdout: 'client waiting-app (Name of waiting-app) approved: people can sign in with it now\n', stderr: '' });
    expect((await db.store.clients.find('waiting-app'))!.pendingApproval).toBe(false);
    expect(auditEvents().at(-1)).toMatchObject({ event: 'admin.client_approved', client: 'waiting-app', client_name: 'Name of waiting-app', actor: 'cli', decision: 'allow' });
    expect(await statuses()).toEqual({ 'waiting-app': 'active', 'other-app': 'pending', 'old-app': 'active' });

    // Approving again changes nothing and writes no audit line.
    const lines = auditEvents().length;
    expect(await admin(db.env, ['clients', 'approve', '--client-id', 'waiting-app'])).toMatchObject({ code: 0, stdout: 'client waiting-app (Name of waiting-app) was not waiting for approval; nothing changed\n' });
    expect(auditEvents()).toHaveLength(lines);

    await admin(db.env, ['clients', 'revoke', '--client-id', 'other-app']);
    expect(await admin(db.env, ['clients', 'approve', '--client-id', 'other-app'])).toEqual({ code: 1, stdout: '', stderr: 'error: client other-app: the client is revoked: it cannot be approved\n' });
    expect((await db.store.clients.find('other-app'))!.pendingApproval).toBe(true);
    expect(await statuses()).toMatchObject({ 'other-app': 'revoked' });
    expect(await admin(db.env, ['clients', 'approve', 'nope'])).toMatchObject({ code: 1, stderr: 'error: client nope: no client with that id\n' });
    expect((await admin(db.env, ['clients', 'approve'])).code).toBe(2);
    expect((await admin(db.env, ['clients', 'approve', 'a', '--client-id', 'b'])).code).toBe(2);
  });

  it('clients list escapes control characters from untrusted client names', async () => {
    await seedClient(db, 'evil', 'Evil\u001b[2J\nroot  admin  active');
    const r = await admin(db.env, ['clients', 'list']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('\u001b');
    expect(r.stdout).toContain('Evil\\u001b[2J\\u000aroot');
    expect(r.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('[HARD-KEY-PREPUBLISH] keys rotate adds the next key; keys list shows it published before it signs, next to the current one', async () => {
    const first = await admin(db.env, ['keys', 'rotate']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^new signing key \S+ signs now \(there was no other\)\n$/);
    const second = await admin(db.env, ['keys', 'rotate']);
    expect(second.code).toBe(0);
    const keys = JSON.parse((await admin(db.env, ['keys', 'list', '--json'])).stdout) as { kid: string; state: string; signsFrom: number | null; retiredAt: number | null; published: boolean }[];
    expect(keys).toHaveLength(2);
    const [next, current] = keys;
    expect(second.stdout).toContain(`new signing key ${next!.kid} is published now and signs from `);
    expect(second.stdout).toContain(`${current!.kid} signs until then and stays in the JWKS for 660 s more`);
    expect(next).toMatchObject({ state: 'next', retiredAt: null, published: true, signsFrom: expect.any(Number) });
    expect(current).toMatchObject({ state: 'current', retiredAt: next!.signsFrom, published: true, signsFrom: null });
    expect(next!.signsFrom! - Date.now()).toBeGreaterThan(60_000);
    const plain = await admin(db.env, ['keys', 'list']);
    expect(plain.stdout.split('\n')[0]).toMatch(/^KID\s+STATE\s+CREATED\s+SIGNS FROM\s+RETIRED\s+PUBLISHED$/);
    expect(plain.stdout).toMatch(new RegExp(`${next!.kid}\\s+next\\s+\\S+Z\\s+\\S+Z\\s+-\\s+yes`));
    expect(plain.stdout).toMatch(new RegExp(`${current!.kid}\\s+current\\s+\\S+Z\\s+-\\s+\\S+Z\\s+yes`));
    expect(auditEvents().at(-1)).toMatchObject({ event: 'admin.key_rotated', kid: next!.kid, previous_kid: current!.kid });
  });

  it('[HARD-KEY-PREPUBLISH] keys rotate on a running server\'s DATA_DIR: the JWKS publishes both keys at once, the server switches after the lead time', async () => {
    let clock = Date.now();
    await using s = await startAuthServer({}, { now: () => clock });
    const before = (await s.app.ctx.keys.active()).kid;
    const r = await admin({ DATA_DIR: s.dataDir, ...s.dbEnv }, ['keys', 'rotate']);
    expect(r.code).toBe(0);
    const { keys } = (await (await fetch(`${s.url}/jwks`)).json()) as { keys: { kid: string }[] };
    expect(keys).toHaveLength(2);
    expect(keys.map((k) => k.kid)).toContain(before);
    clock += 6_000; // past the key store's reload interval: still the current key
    expect((await s.app.ctx.keys.active()).kid).toBe(before);
    clock += PUBLISH_LEAD_MS;
    const after = (await s.app.ctx.keys.active()).kid;
    expect(after).not.toBe(before);
    expect(r.stdout).toContain(after);
  });

  it('[HARD-KEY-PREPUBLISH] keys rotate --now: the new key signs at once and the others leave the JWKS', async () => {
    await admin(db.env, ['keys', 'rotate']);
    await admin(db.env, ['keys', 'rotate']);
    const old = (JSON.parse((await admin(db.env, ['keys', 'list', '--json'])).stdout) as { kid: string }[]).map((k) => k.kid);
    const r = await admin(db.env, ['keys', 'rotate', '--now']);
    expect(r.code).toBe(0);
    const keys = JSON.parse((await admin(db.env, ['keys', 'list', '--json'])).stdout) as { kid: string; state: string }[];
    expect(keys).toEqual([expect.objectContaining({ state: 'current' })]);
    expect(r.stdout).toContain(`new signing key ${keys[0]!.kid} signs now`);
    const withdrawn = /withdrawn from the JWKS: (.+); tokens they signed stop verifying/.exec(r.stdout)?.[1]?.split(', ');
    expect(withdrawn?.sort()).toEqual(old.sort());
    expect(auditEvents().at(-1)).toMatchObject({ event: 'admin.key_rotated', kid: keys[0]!.kid, reason: 'emergency: --now' });
  });

  it('exits 1 on invalid configuration, naming the setting, and refuses an in-memory database', async () => {
    const bad = await admin({ DATA_DIR: db.dir, ACCESS_TOKEN_TTL_SECONDS: 'soon' }, ['users', 'list']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('ACCESS_TOKEN_TTL_SECONDS');
    const mem = await admin({ DATA_DIR: db.dir, AUTH_DATABASE_PATH: ':memory:' }, ['users', 'list']);
    expect(mem).toMatchObject({ code: 1, stdout: '' });
    expect(mem.stderr).toMatch(/^error: AUTH_DATABASE_PATH is :memory:/);
  });

  it('[EXT-CC-GRANT] clients add registers a client_credentials client with a declared role, scopes capped by it, a secret shown once; list shows the role', async () => {
    const r = await admin(db.env, ['clients', 'add', '--name', 'nightly job', '--grant-types', 'client_credentials', '--role', 'developer', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { client_id: string; client_secret: string; scope: string };
    expect(out).toMatchObject({ role: 'developer', scope: 'db:read db:write', token_endpoint_auth_method: 'client_secret_basic' });
    expect(out.client_secret.length).toBeGreaterThanOrEqual(43);
    const row = await db.store.clients.find(out.client_id);
    expect(row).toMatchObject({ source: 'admin', role: 'developer', grantTypes: ['client_credentials'], redirectUris: [], jwks: null, jwksUri: null });
    expect(row!.secretHash).not.toContain(out.client_secret);
    expect((await admin(db.env, ['clients', 'list'])).stdout).toMatch(/nightly job\s+admin\s+client_secret_basic\s+no\s+developer/);
    const audit = auditLog();
    expect(audit).toContain('admin.client_added');
    expect(audit).not.toContain(out.client_secret);

    const beyond = await admin(db.env, ['clients', 'add', '--name', 'x', '--grant-types', 'client_credentials', '--role', 'viewer', '--scope', 'db:read db:write']);
    expect(beyond).toMatchObject({ code: 1, stderr: 'error: role viewer may not hold db:write (its scopes: db:read)\n' });
    const undeclared = await admin(db.env, ['clients', 'add', '--name', 'x', '--grant-types', 'client_credentials', '--role', 'root']);
    expect(undeclared.code).toBe(2);
    expect(undeclared.stderr).toMatch(/--role must be one of the roles/);
    const grant = await admin(db.env, ['clients', 'add', '--name', 'x', '--grant-types', 'authorization_code', '--role', 'viewer']);
    expect(grant.code).toBe(2);
    const noKeys = await admin(db.env, ['clients', 'add', '--name', 'x', '--grant-types', 'client_credentials', '--role', 'viewer', '--auth-method', 'private_key_jwt']);
    expect(noKeys).toMatchObject({ code: 1, stderr: 'error: private_key_jwt needs exactly one of --jwks-file and --jwks-uri\n' });
    const uri = await admin(db.env, ['clients', 'add', '--name', 'k', '--grant-types', 'client_credentials', '--role', 'viewer', '--auth-method', 'private_key_jwt', '--jwks-uri', 'https://ci.example/jwks.json', '--json']);
    expect(uri.code, uri.stderr).toBe(0);
    expect(JSON.parse(uri.stdout).client_secret).toBeUndefined();
    expect(await db.store.clients.find(JSON.parse(uri.stdout).client_id)).toMatchObject({ tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: 'https://ci.example/jwks.json', secretHash: null });
  });

  it('[EMA-CONFIG] clients add --grant-types jwt-bearer registers a client with no role or scope of its own, for the stack file to list', async () => {
    const r = await admin(db.env, ['clients', 'add', '--name', 'agent', '--grant-types', 'jwt-bearer', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { client_id: string; client_secret: string };
    expect(out).toMatchObject({ grant_types: ['urn:ietf:params:oauth:grant-type:jwt-bearer'], token_endpoint_auth_method: 'client_secret_basic' });
    expect(await db.store.clients.find(out.client_id)).toMatchObject({ role: null, scope: '', grantTypes: ['urn:ietf:params:oauth:grant-type:jwt-bearer'] });
    expect(auditLog()).not.toContain(out.client_secret);
    const withRole = await admin(db.env, ['clients', 'add', '--name', 'x', '--grant-types', 'jwt-bearer', '--role', 'viewer']);
    expect(withRole.code).toBe(2);
    expect(withRole.stderr).toMatch(/--role and --scope are not for jwt-bearer clients/);
  });
});
