import { afterEach, describe, expect, it } from 'vitest';
import { OAuthError } from '@stack/oauth';
import { createApiKeyStore, type ApiKeyRecords } from '@stack/mcp-auth';
import { openTestMcpStore, type TestMcpStore } from './store-helpers.ts';

// The key store on the app's store: SQLite here, PostgreSQL in the mcp-postgres project (TEST_MCP_DB).
const opened: TestMcpStore[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

async function setup() {
  let clock = 1_800_000_000_000;
  const t = await openTestMcpStore();
  opened.push(t);
  let reads = 0;
  const records: ApiKeyRecords = { ...t.store.apiKeys, get: (id) => (reads++, t.store.apiKeys.get(id)) };
  const store = createApiKeyStore(records, () => clock);
  return { records: t.store.apiKeys, reads: () => reads, store, advance: (ms: number) => (clock += ms), now: () => clock };
}

async function expectInvalid(p: Promise<unknown>, description: string) {
  const err = await p.then(() => expect.unreachable('should have failed'), (e: unknown) => e);
  expect(err).toBeInstanceOf(OAuthError);
  expect(err).toMatchObject({ code: 'invalid_token', status: 401, description });
}

describe('createApiKeyStore', () => {
  it('creates a key shown once (mcpk_<id>_<secret>) and stores only a salted hash', async () => {
    const { records, store } = await setup();
    const { id, key } = await store.create({ name: 'ci bot', role: 'developer' });
    expect(id).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(key).toMatch(new RegExp(`^mcpk_${id.replace(/[-]/g, '\\-')}_[A-Za-z0-9_-]{43}$`));
    const row = (await records.get(id))!;
    const secret = key.slice(`mcpk_${id}_`.length);
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(row.salt).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const second = await store.create({ name: 'other', role: 'viewer' });
    expect(second.id).not.toBe(id);
  });

  it('verifies a key to an apikey identity with the scopes of its role', async () => {
    const { store } = await setup();
    const { id, key } = await store.create({ name: 'admin key', role: 'admin' });
    const identity = await store.verify(key);
    expect(identity).toEqual({
      kind: 'apikey',
      subject: `apikey:${id}`,
      role: 'admin',
      scopes: ['db:read', 'db:write', 'db:admin'],
      tokenId: id,
    });
    expect(Object.isFrozen(identity)).toBe(true);
  });

  it('rejects a wrong secret and an unknown id with the same description', async () => {
    const { store } = await setup();
    const { id, key } = await store.create({ name: 'k', role: 'viewer' });
    const last = key.at(-1) === 'A' ? 'B' : 'A';
    await expectInvalid(store.verify(key.slice(0, -1) + last), 'api key is not valid');
    const otherId = (id[0] === 'A' ? 'B' : 'A') + id.slice(1);
    await expectInvalid(store.verify(key.replace(id, otherId)), 'api key is not valid');
  });

  it('rejects malformed keys without a database lookup', async () => {
    const { reads, store } = await setup();
    const { key } = await store.create({ name: 'k', role: 'viewer' });
    for (const bad of ['', 'mcpk_', key.slice(0, -1), `${key}x`, key.replace('mcpk_', 'mcpx_'), `Bearer ${key}`, 'mcpk_abc_def', key.replace(/_([^_]*)$/, '.$1')]) {
      await expectInvalid(store.verify(bad), 'api key is malformed');
    }
    await expectInvalid(store.verify(undefined as unknown as string), 'api key is malformed');
    expect(reads()).toBe(0);
  });

  it('revokes one key without touching the others', async () => {
    const { store } = await setup();
    const a = await store.create({ name: 'a', role: 'developer' });
    const b = await store.create({ name: 'b', role: 'developer' });
    expect(await store.revoke(a.id)).toBe(true);
    expect(await store.revoke(a.id)).toBe(false);
    expect(await store.revoke('nonexistent0')).toBe(false);
    await expectInvalid(store.verify(a.key), 'api key has been revoked');
    await expect(store.verify(b.key)).resolves.toMatchObject({ subject: `apikey:${b.id}` });
  });

  it('rejects a key after its expiry', async () => {
    const { store, advance, now } = await setup();
    const { key } = await store.create({ name: 'temp', role: 'viewer', expiresAt: now() + 60_000 });
    await expect(store.verify(key)).resolves.toMatchObject({ role: 'viewer', scopes: ['db:read'] });
    advance(60_000);
    await expectInvalid(store.verify(key), 'api key has expired');
  });

  it('lists keys without any secret material, oldest first', async () => {
    const { store, now, advance } = await setup();
    const created = now();
    const a = await store.create({ name: 'a', role: 'admin', expiresAt: created + 1_000 });
    advance(1);
    await store.create({ name: 'b', role: 'viewer' });
    await store.revoke(a.id);
    const list = await store.list();
    expect(list).toEqual([
      { id: a.id, name: 'a', role: 'admin', createdAt: created, expiresAt: created + 1_000, revokedAt: now() },
      { id: expect.any(String), name: 'b', role: 'viewer', createdAt: now(), expiresAt: null, revokedAt: null },
    ]);
  });

  it('refuses bad names, roles and expiries at creation', async () => {
    const { store, now } = await setup();
    await expect(store.create({ name: 'x'.repeat(101), role: 'viewer' })).rejects.toThrow(TypeError);
    await expect(store.create({ name: '  ', role: 'viewer' })).rejects.toThrow(TypeError);
    await expect(store.create({ name: 'a\nb', role: 'viewer' })).rejects.toThrow(TypeError);
    await expect(store.create({ name: 'ok', role: 'root' })).rejects.toThrow(TypeError);
    await expect(store.create({ name: 'ok', role: 'viewer', expiresAt: now() - 1 })).rejects.toThrow(TypeError);
    await expect(store.create({ name: 'x'.repeat(100), role: 'viewer' })).resolves.toBeTruthy();
  });
});
