import { createHmac } from 'node:crypto';
import { safeEqual } from '@stack/crypto';

/** Server-provided DPoP nonces (RFC 9449 §8 at the token endpoint, §9 at a resource). */
export interface DpopNonces {
  /** The nonce to send in a `DPoP-Nonce` header now. */
  current(): string;
  /** Whether a proof's `nonce` is the current or the previous window's nonce. */
  isValid(nonce: string): boolean;
}

export interface DpopNoncesOptions {
  /** At least 32 random bytes; every instance that must accept another's nonces shares it. */
  secret: Uint8Array;
  /** Epoch milliseconds. */
  now: () => number;
  /** Window length: a nonce is accepted for between one and two windows after it is issued. */
  rotateSeconds: number;
}

/**
 * Stateless nonces: the nonce of window w = floor(now / rotateSeconds) is HMAC-SHA256(secret, w),
 * so instances sharing the secret issue and accept the same values without shared storage, and a
 * client cannot compute a future window's nonce to pre-generate proofs (RFC 9449 §11.2). The
 * previous window's nonce stays valid so a nonce issued just before a rotation still works.
 */
export function createDpopNonces(opts: DpopNoncesOptions): DpopNonces {
  if (opts.secret.byteLength < 32) throw new TypeError('the DPoP nonce secret must be at least 32 bytes');
  if (!Number.isSafeInteger(opts.rotateSeconds) || opts.rotateSeconds < 1) throw new TypeError('rotateSeconds must be a positive integer');
  const secret = Buffer.from(opts.secret); // a copy: later changes to the caller's array do not change the nonces
  const cache = new Map<number, string>(); // the last two windows' values; an HMAC per window, not per request
  const nonceOf = (w: number): string => {
    let n = cache.get(w);
    if (n === undefined) {
      n = createHmac('sha256', secret).update(`dpop-nonce:${w}`).digest('base64url');
      cache.set(w, n);
      for (const k of cache.keys()) if (k < w - 1) cache.delete(k);
    }
    return n;
  };
  const window = () => Math.floor(opts.now() / 1000 / opts.rotateSeconds);
  return {
    current: () => nonceOf(window()),
    isValid(nonce) {
      const w = window();
      // Both comparisons always run: the time taken does not say which window matched.
      const cur = safeEqual(nonce, nonceOf(w));
      const prev = safeEqual(nonce, nonceOf(w - 1));
      return cur || prev;
    },
  };
}
