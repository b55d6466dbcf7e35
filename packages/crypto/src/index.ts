import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePrivateFileOnce } from './private-files.ts';

/** A key-encryption key with a stable id, so sealed data records which KEK wrapped its data key. */
export interface Kek {
  id: string;
  key: Buffer;
}

/** An envelope: data encrypted under a fresh data key, the data key wrapped by a KEK (AES-256-GCM both). */
export interface Envelope {
  v: 1;
  kek: string;
  dek: string; // wrapped data key: iv.ct.tag (base64url)
  data: string; // iv.ct.tag (base64url)
}

/** Derives a short, non-secret id for a KEK (first 8 bytes of SHA-256 of the key). */
export function kekId(key: Buffer): string {
  return createHash('sha256').update('kek-id:').update(key).digest('base64url').slice(0, 11);
}

/** Wraps a raw 32-byte key as a Kek. */
export function makeKek(key: Buffer): Kek {
  if (key.length !== 32) throw new TypeError('key-encryption key must be 32 bytes');
  return { id: kekId(key), key };
}

function gcmEncrypt(key: Buffer, plaintext: Buffer, aad: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return [iv, ct, c.getAuthTag()].map((b) => b.toString('base64url')).join('.');
}

function gcmDecrypt(key: Buffer, sealed: string, aad: string): Buffer {
  const [iv, ct, tag] = sealed.split('.').map((p) => Buffer.from(p, 'base64url'));
  if (!iv || !ct || !tag) throw new Error('malformed ciphertext');
  const d = createDecipheriv('aes-256-gcm', key, iv);
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]);
}

/**
 * Encrypts `plaintext` under a fresh data key, wrapped by `kek`. `context` is bound as
 * additional authenticated data, so an envelope cannot be moved to another record.
 */
export function seal(kek: Kek, plaintext: string | Buffer, context: string): Envelope {
  const dek = randomBytes(32);
  try {
    return {
      v: 1,
      kek: kek.id,
      dek: gcmEncrypt(kek.key, dek, `dek:${context}`),
      data: gcmEncrypt(dek, Buffer.isBuffer(plaintext) ? plaintext : Buffer.from(plaintext), `data:${context}`),
    };
  } finally {
    dek.fill(0);
  }
}

/** Decrypts an envelope; `keks` may hold old KEKs during a rotation. Throws if no KEK matches or data was altered. */
export function open(keks: Kek[], env: Envelope, context: string): Buffer {
  const kek = keks.find((k) => k.id === env.kek);
  if (!kek) throw new Error(`no key-encryption key with id ${env.kek} is configured`);
  const dek = gcmDecrypt(kek.key, env.dek, `dek:${context}`);
  try {
    return gcmDecrypt(dek, env.data, `data:${context}`);
  } finally {
    dek.fill(0);
  }
}

/** Re-wraps the data key under `to` without touching the encrypted data (KEK rotation). */
export function rewrap(keks: Kek[], to: Kek, env: Envelope, context: string): Envelope {
  const from = keks.find((k) => k.id === env.kek);
  if (!from) throw new Error(`no key-encryption key with id ${env.kek} is configured`);
  const dek = gcmDecrypt(from.key, env.dek, `dek:${context}`);
  try {
    return { ...env, kek: to.id, dek: gcmEncrypt(to.key, dek, `dek:${context}`) };
  } finally {
    dek.fill(0);
  }
}

/** SHA-256 of a high-entropy token, base64url. Used to store tokens, codes and session ids as hashes. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** A random, URL-safe token with `bytes` bytes of entropy. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Constant-time string comparison (lengths are compared through fixed-size digests). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/** Where the key-encryption keys come from. */
export interface KekSource {
  /** The current KEK (32 bytes), if configured. */
  key?: Buffer | undefined;
  /** Older KEKs (base64), still accepted for opening envelopes during a rotation. */
  previous?: readonly string[];
  /** Outside production, a missing key is generated once into `${dataDir}/kek.key` (mode 0600). */
  dataDir: string;
  production: boolean;
}

/** Resolves the KEK list: keks[0] wraps new data, the rest only open older envelopes. */
export function loadKeks(src: KekSource): Kek[] {
  const previous = (src.previous ?? []).map((s) => makeKek(Buffer.from(s, /[-_]/.test(s) ? 'base64url' : 'base64')));
  if (src.key) return [makeKek(src.key), ...previous];
  if (src.production) throw new Error('KEY_ENCRYPTION_KEY is required in production');
  const file = join(src.dataDir, 'kek.key');
  // Written whole under a temporary name and linked into place: another process starting at the
  // same time (the other app, a second instance) either wins or reads the winner's complete key.
  if (!existsSync(file)) writePrivateFileOnce(file, randomBytes(32).toString('base64'));
  chmodSync(file, 0o600);
  return [makeKek(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')), ...previous];
}

export { ensurePrivateDir, ensurePrivateFile, privateModeWarnings, sqliteFiles, writePrivateFileOnce, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './private-files.ts';
