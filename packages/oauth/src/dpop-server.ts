import { hkdfSync } from 'node:crypto';
import { createDpopNonces, type DpopNonces } from './dpop-nonce.ts';

/**
 * The proof algorithms accepted (RFC 9449 §5.1 `dpop_signing_alg_values_supported`, §7.1 `algs`):
 * asymmetric only (§4.2, §11.6), the ones common DPoP clients sign with first.
 */
export const DPOP_SIGNING_ALGS: readonly string[] = Object.freeze(['ES256', 'RS256', 'PS256', 'EdDSA', 'Ed25519']);

/**
 * The nonce window of {@link sharedDpopNonces}: a nonce is accepted for 5 to 10 minutes after it is
 * issued, so a client refreshing or calling tools every few minutes rarely needs a new nonce round,
 * while a proof cannot be pre-generated for later than that (RFC 9449 §11.2).
 */
export const DPOP_NONCE_ROTATE_SECONDS = 300;

/**
 * The DPoP nonce secret derived from a deployment's key-encryption key (HKDF-SHA256, RFC 5869, with
 * a purpose label), so that every instance of the authorization server and the MCP app configured
 * with the same KEY_ENCRYPTION_KEY (or sharing the DATA_DIR holding the generated one) issues and
 * accepts the same nonces with no extra setting, and the key itself is never used twice.
 */
export function dpopNonceSecret(keyEncryptionKey: Uint8Array): Buffer {
  if (keyEncryptionKey.byteLength < 32) throw new TypeError('the key-encryption key must be at least 32 bytes');
  return Buffer.from(hkdfSync('sha256', keyEncryptionKey, new Uint8Array(0), 'mcp-oauth dpop-nonce v1', 32));
}

/** Server nonces (RFC 9449 §8, §9) every app deriving them from the same key agrees on. */
export function sharedDpopNonces(keyEncryptionKey: Uint8Array, now: () => number): DpopNonces {
  return createDpopNonces({ secret: dpopNonceSecret(keyEncryptionKey), now, rotateSeconds: DPOP_NONCE_ROTATE_SECONDS });
}
