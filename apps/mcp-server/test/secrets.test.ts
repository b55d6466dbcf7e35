import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeKek, type Kek } from '@stack/crypto';
import { createSecretStore, MAX_SECRET_BYTES } from '../src/secrets/store.ts';
import type { SecretRecords } from '../src/store/index.ts';
import { openTestMcpStore, type TestMcpStore } from './store-helpers.ts';

// On the app's store: SQLite here, PostgreSQL in the mcp-postgres project (TEST_MCP_DB).
let t: TestMcpStore;
let db: SecretRecords;
let kekA: Kek;
let kekB: Kek;

const rawEnvelope = async (name: string) => (await db.get(name))!.envelope as Record<string, string>;
const writeEnvelope = (name: string, envelope: Record<string, unknown>) => db.put({ name, envelope, updatedAt: Date.now() });

beforeEach(async () => {
  t = await openTestMcpStore();
  db = t.store.secrets;
  kekA = makeKek(randomBytes(32));
  kekB = makeKek(randomBytes(32));
});
afterEach(() => t.close());

describe('secret store', () => {
  it('round-trips, overwrites, lists names without values and deletes', async () => {
    const store = createSecretStore(db, [kekA]);
    expect(await store.get('github.token')).toBeUndefined();
    await store.set('github.token', 'ghp_first');
    await store.set('github.token', 'ghp_second');
    await store.set('db-password', 'pässwörd ✓');
    expect(await store.get('github.token')).toBe('ghp_second');
    expect(await store.getSecret('db-password')).toBe('pässwörd ✓');
    const listed = await store.list();
    expect(listed.map((s) => s.name)).toEqual(['db-password', 'github.token']);
    for (const s of listed) {
      expect(Object.keys(s).sort()).toEqual(['name', 'updatedAt']);
      expect(s.updatedAt).toBeGreaterThan(Date.now() - 60_000);
    }
    expect(await store.delete('github.token')).toBe(true);
    expect(await store.delete('github.token')).toBe(false);
    expect(await store.get('github.token')).toBeUndefined();
  });

  it('stores only ciphertext: neither the row nor the database files contain the plaintext', async () => {
    const store = createSecretStore(db, [kekA]);
    const plaintext = `very-secret-${randomBytes(8).toString('hex')}`;
    await store.set('api.key', plaintext);
    const env = await rawEnvelope('api.key');
    expect(Object.keys(env).sort()).toEqual(['data', 'dek', 'kek', 'v']);
    expect(env.kek).toBe(kekA.id);
    expect(JSON.stringify(env)).not.toContain(plaintext);
    for (const f of readdirSync(t.dir)) {
      const bytes = readFileSync(join(t.dir, f));
      expect(bytes.includes(plaintext), f).toBe(false);
      expect(bytes.includes(Buffer.from(plaintext).toString('base64')), f).toBe(false);
    }
  });

  it('refuses a tampered envelope, an envelope moved to another name and an unknown key', async () => {
    const store = createSecretStore(db, [kekA]);
    await store.set('one', 'value-1');
    await store.set('two', 'value-2');
    const env = await rawEnvelope('one');
    const flip = (s: string) => s.slice(0, -3) + (s.at(-3) === 'A' ? 'B' : 'A') + s.slice(-2);
    await writeEnvelope('one', { ...env, data: flip(env.data!) });
    await expect(store.get('one')).rejects.toThrow("secret 'one' could not be decrypted");
    await writeEnvelope('one', { ...env, dek: flip(env.dek!) });
    await expect(store.get('one')).rejects.toThrow(/could not be decrypted/);
    await writeEnvelope('one', { v: 2, kek: env.kek, dek: env.dek, data: env.data });
    await expect(store.get('one')).rejects.toThrow(/not a valid envelope/);
    // The name is bound as additional authenticated data: a copied envelope does not open.
    await writeEnvelope('one', await rawEnvelope('two'));
    await expect(store.get('one')).rejects.toThrow(/could not be decrypted/);
    await expect(createSecretStore(db, [kekB]).get('two')).rejects.toThrow(/could not be decrypted/);
    expect(await store.get('two')).toBe('value-2');
  });

  it('rotateKek re-wraps data keys without touching the data ciphertext', async () => {
    const store = createSecretStore(db, [kekA]);
    await store.set('a', 'alpha');
    await store.set('b', 'bravo');
    const before = { a: await rawEnvelope('a'), b: await rawEnvelope('b') };
    expect(await store.rotateKek(kekB)).toBe(2);
    for (const name of ['a', 'b'] as const) {
      const after = await rawEnvelope(name);
      expect(after.kek).toBe(kekB.id);
      expect(after.data).toBe(before[name].data);
      expect(after.dek).not.toBe(before[name].dek);
    }
    // Only the new key is needed now; the old one alone no longer opens anything.
    expect(await createSecretStore(db, [kekB]).get('a')).toBe('alpha');
    await expect(createSecretStore(db, [kekA]).get('b')).rejects.toThrow(/could not be decrypted/);
    // The store seals new values with the new key, and a second rotation to it is a no-op.
    await store.set('c', 'charlie');
    expect((await rawEnvelope('c')).kek).toBe(kekB.id);
    expect(await store.rotateKek(kekB)).toBe(0);
  });

  it('rotateKek is all or nothing when one envelope cannot be opened', async () => {
    const store = createSecretStore(db, [kekA]);
    await store.set('good', 'g');
    await createSecretStore(db, [kekB]).set('foreign', 'f');
    const kekC = makeKek(randomBytes(32));
    await expect(store.rotateKek(kekC)).rejects.toThrow(/no key-encryption key/);
    expect((await rawEnvelope('good')).kek).toBe(kekA.id);
    expect(await store.get('good')).toBe('g');
  });

  it('limits names to 64 characters of [A-Za-z0-9_.-] and values to 64 KiB', async () => {
    const store = createSecretStore(db, [kekA]);
    for (const name of ['', 'a'.repeat(65), 'has space', 'semi;colon', '../etc', 'ünï']) {
      await expect(store.set(name, 'v'), name).rejects.toThrow(/invalid secret name/);
      await expect(store.get(name), name).rejects.toThrow(/invalid secret name/);
    }
    await store.set('a'.repeat(64), 'x'.repeat(MAX_SECRET_BYTES));
    expect(await store.get('a'.repeat(64))).toHaveLength(MAX_SECRET_BYTES);
    await expect(store.set('big', 'x'.repeat(MAX_SECRET_BYTES + 1))).rejects.toThrow(/at most 65536 bytes/);
    await expect(store.set('big', 'é'.repeat(MAX_SECRET_BYTES / 2 + 1))).rejects.toThrow(/at most 65536 bytes/);
    expect(() => createSecretStore(db, [])).toThrow(/at least one key-encryption key/);
  });
});
