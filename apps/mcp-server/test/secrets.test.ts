import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeKek, type Kek } from '@stack/crypto';
import { openMcpDb, type McpDb } from '@stack/db';
import { createSecretStore, MAX_SECRET_BYTES } from '../src/secrets/store.ts';

let dir: string;
let db: McpDb;
let kekA: Kek;
let kekB: Kek;

const rawEnvelope = (name: string) =>
  JSON.parse(db.$client.prepare('SELECT envelope FROM secrets WHERE name = ?').pluck().get(name) as string) as Record<string, string>;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-secrets-'));
  db = openMcpDb(join(dir, 'mcp.db'));
  kekA = makeKek(randomBytes(32));
  kekB = makeKek(randomBytes(32));
});
afterEach(() => {
  db.$client.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('secret store', () => {
  it('round-trips, overwrites, lists names without values and deletes', () => {
    const store = createSecretStore(db, [kekA]);
    expect(store.get('github.token')).toBeUndefined();
    store.set('github.token', 'ghp_first');
    store.set('github.token', 'ghp_second');
    store.set('db-password', 'pässwörd ✓');
    expect(store.get('github.token')).toBe('ghp_second');
    expect(store.getSecret('db-password')).toBe('pässwörd ✓');
    const listed = store.list();
    expect(listed.map((s) => s.name)).toEqual(['db-password', 'github.token']);
    for (const s of listed) {
      expect(Object.keys(s).sort()).toEqual(['name', 'updatedAt']);
      expect(s.updatedAt).toBeGreaterThan(Date.now() - 60_000);
    }
    expect(store.delete('github.token')).toBe(true);
    expect(store.delete('github.token')).toBe(false);
    expect(store.get('github.token')).toBeUndefined();
  });

  it('stores only ciphertext: neither the row nor the database files contain the plaintext', () => {
    const store = createSecretStore(db, [kekA]);
    const plaintext = `very-secret-${randomBytes(8).toString('hex')}`;
    store.set('api.key', plaintext);
    const env = rawEnvelope('api.key');
    expect(Object.keys(env).sort()).toEqual(['data', 'dek', 'kek', 'v']);
    expect(env.kek).toBe(kekA.id);
    expect(JSON.stringify(env)).not.toContain(plaintext);
    for (const f of readdirSync(dir)) {
      const bytes = readFileSync(join(dir, f));
      expect(bytes.includes(plaintext), f).toBe(false);
      expect(bytes.includes(Buffer.from(plaintext).toString('base64')), f).toBe(false);
    }
  });

  it('refuses a tampered envelope, an envelope moved to another name and an unknown key', () => {
    const store = createSecretStore(db, [kekA]);
    store.set('one', 'value-1');
    store.set('two', 'value-2');
    const env = rawEnvelope('one');
    const flip = (s: string) => s.slice(0, -3) + (s.at(-3) === 'A' ? 'B' : 'A') + s.slice(-2);
    const update = db.$client.prepare('UPDATE secrets SET envelope = ? WHERE name = ?');
    update.run(JSON.stringify({ ...env, data: flip(env.data!) }), 'one');
    expect(() => store.get('one')).toThrow("secret 'one' could not be decrypted");
    update.run(JSON.stringify({ ...env, dek: flip(env.dek!) }), 'one');
    expect(() => store.get('one')).toThrow(/could not be decrypted/);
    update.run(JSON.stringify({ v: 2, kek: env.kek, dek: env.dek, data: env.data }), 'one');
    expect(() => store.get('one')).toThrow(/not a valid envelope/);
    // The name is bound as additional authenticated data: a copied envelope does not open.
    update.run(JSON.stringify(rawEnvelope('two')), 'one');
    expect(() => store.get('one')).toThrow(/could not be decrypted/);
    expect(() => createSecretStore(db, [kekB]).get('two')).toThrow(/could not be decrypted/);
    expect(store.get('two')).toBe('value-2');
  });

  it('rotateKek re-wraps data keys without touching the data ciphertext', () => {
    const store = createSecretStore(db, [kekA]);
    store.set('a', 'alpha');
    store.set('b', 'bravo');
    const before = { a: rawEnvelope('a'), b: rawEnvelope('b') };
    expect(store.rotateKek(kekB)).toBe(2);
    for (const name of ['a', 'b'] as const) {
      const after = rawEnvelope(name);
      expect(after.kek).toBe(kekB.id);
      expect(after.data).toBe(before[name].data);
      expect(after.dek).not.toBe(before[name].dek);
    }
    // Only the new key is needed now; the old one alone no longer opens anything.
    expect(createSecretStore(db, [kekB]).get('a')).toBe('alpha');
    expect(() => createSecretStore(db, [kekA]).get('b')).toThrow(/could not be decrypted/);
    // The store seals new values with the new key, and a second rotation to it is a no-op.
    store.set('c', 'charlie');
    expect(rawEnvelope('c').kek).toBe(kekB.id);
    expect(store.rotateKek(kekB)).toBe(0);
  });

  it('rotateKek is all or nothing when one envelope cannot be opened', () => {
    const store = createSecretStore(db, [kekA]);
    store.set('good', 'g');
    createSecretStore(db, [kekB]).set('foreign', 'f');
    const kekC = makeKek(randomBytes(32));
    expect(() => store.rotateKek(kekC)).toThrow(/no key-encryption key/);
    expect(rawEnvelope('good').kek).toBe(kekA.id);
    expect(store.get('good')).toBe('g');
  });

  it('limits names to 64 characters of [A-Za-z0-9_.-] and values to 64 KiB', () => {
    const store = createSecretStore(db, [kekA]);
    for (const name of ['', 'a'.repeat(65), 'has space', 'semi;colon', '../etc', 'ünï']) {
      expect(() => store.set(name, 'v'), name).toThrow(/invalid secret name/);
      expect(() => store.get(name), name).toThrow(/invalid secret name/);
    }
    store.set('a'.repeat(64), 'x'.repeat(MAX_SECRET_BYTES));
    expect(store.get('a'.repeat(64))).toHaveLength(MAX_SECRET_BYTES);
    expect(() => store.set('big', 'x'.repeat(MAX_SECRET_BYTES + 1))).toThrow(/at most 65536 bytes/);
    expect(() => store.set('big', 'é'.repeat(MAX_SECRET_BYTES / 2 + 1))).toThrow(/at most 65536 bytes/);
    expect(() => createSecretStore(db, [])).toThrow(/at least one key-encryption key/);
  });
});
