import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import argon2 from 'argon2';
import { randomToken } from '@stack/crypto';
import type { Argon2Slots } from './argon2-slots.ts';

// hmac-sha256$<16-byte salt>$<32-byte HMAC>, both base64url. Secrets stored before this format are
// argon2id hashes ($argon2id$...): still verified, and replaced by this form on their next successful use.
const PREFIX = 'hmac-sha256$';
const HMAC_FORMAT = /^hmac-sha256\$([A-Za-z0-9_-]{22})\$([A-Za-z0-9_-]{43})$/;

/** A new client secret: 32 random bytes (256 bits), base64url, shown to the client once. */
export function generateClientSecret(): string {
  return randomToken(32);
}

/**
 * A server-generated secret has 256 bits of entropy, so guessing it is infeasible however fast the
 * hash: argon2's cost protects low-entropy passwords and buys nothing here, while it would cost
 * ~25 ms of a bounded thread pool on every token request. A salted HMAC-SHA256 is enough. The salt
 * is random per secret and stored next to the hash: it is not a key and need not be secret. It only
 * makes equal secrets hash differently and precomputed tables useless; a server-wide secret key
 * would add nothing against a 256-bit secret and would have to be managed and rotated.
 */
function digest(salt: Buffer, secret: string): Buffer {
  return createHmac('sha256', salt).update(secret, 'utf8').digest();
}

/** The stored form of a client secret. */
export function hashClientSecret(secret: string): string {
  const salt = randomBytes(16);
  return `${PREFIX}${salt.toString('base64url')}$${digest(salt, secret).toString('base64url')}`;
}

/** Whether a presented secret matches; `rehash` is set when the stored hash is in the old format and should be replaced. */
export type SecretCheck = { ok: false } | { ok: true; rehash: string | undefined };

/**
 * Verifies a presented client secret against its stored hash, in constant time for the HMAC form.
 * An argon2id hash (stored before the HMAC form) is verified with argon2 in a bounded slot (a full
 * queue is a 503 that propagates); on success the caller stores `rehash` in its place.
 */
export async function verifyClientSecret(slots: Argon2Slots, stored: string, secret: string): Promise<SecretCheck> {
  const m = HMAC_FORMAT.exec(stored);
  if (m) {
    const expected = Buffer.from(m[2]!, 'base64url');
    const actual = digest(Buffer.from(m[1]!, 'base64url'), secret);
    return expected.length === actual.length && timingSafeEqual(expected, actual) ? { ok: true, rehash: undefined } : { ok: false };
  }
  if (stored.startsWith('$argon2')) {
    // Only argon2's own errors mean "no match".
    const ok = await slots.run(() => argon2.verify(stored, secret).catch(() => false));
    return ok ? { ok: true, rehash: hashClientSecret(secret) } : { ok: false };
  }
  return { ok: false };
}
