import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

// The successor of a rotated refresh token is kept for the grace window, encrypted under a key that
// only the holder of the old token can derive: the database holds the old token's SHA-256 only, so a
// database reader cannot open it (AES-256-GCM, key = HKDF-SHA256(old token), RFC 5869).
const SALT = Buffer.from('refresh-successor-v1');

function keyFor(oldToken: string, oldId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(oldToken, 'utf8'), SALT, `refresh-successor:${oldId}`, 32));
}

/** Encrypts `value` (JSON) so that only the presenter of `oldToken` can open it; bound to the row id. */
export function sealSuccessor(oldToken: string, oldId: string, value: unknown): string {
  const key = keyFor(oldToken, oldId);
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(oldId));
  const ct = Buffer.concat([c.update(JSON.stringify(value), 'utf8'), c.final()]);
  key.fill(0);
  return ['v1', iv, ct, c.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
}

/** Opens a sealed successor; throws if the token, the row id or the ciphertext do not match. */
export function openSuccessor<T>(oldToken: string, oldId: string, sealed: string): T {
  const [v, iv, ct, tag] = sealed.split('.');
  if (v !== 'v1' || !iv || !ct || !tag) throw new Error('malformed sealed successor');
  const key = keyFor(oldToken, oldId);
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    d.setAAD(Buffer.from(oldId));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    return JSON.parse(Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]).toString('utf8')) as T;
  } finally {
    key.fill(0);
  }
}
