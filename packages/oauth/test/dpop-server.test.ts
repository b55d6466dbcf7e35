import { describe, expect, it } from 'vitest';
import { DPOP_NONCE_ROTATE_SECONDS, DPOP_SIGNING_ALGS, dpopNonceSecret, sharedDpopNonces } from '../src/index.ts';
import { ASYMMETRIC_ALGS } from '../src/jwt-assertion.ts';

describe('DPoP settings an authorization server and a resource on one origin share', () => {
  const kek = Buffer.alloc(32, 1);
  const NOW = 1_800_000_000_000;

  it('[RFC9449-NONCE] derives the nonce secret from the key-encryption key: the same for the same key, another for another key, never the key itself', () => {
    const a = dpopNonceSecret(kek);
    expect(a).toHaveLength(32);
    expect(dpopNonceSecret(Buffer.alloc(32, 1)).equals(a)).toBe(true);
    expect(dpopNonceSecret(Buffer.alloc(32, 2)).equals(a)).toBe(false);
    expect(a.equals(kek)).toBe(false);
    expect(() => dpopNonceSecret(Buffer.alloc(16))).toThrow(TypeError);
  });

  it('[RFC9449-NONCE] gives two apps with one key the same nonces, accepted for one to two windows', () => {
    let t = NOW;
    const as = sharedDpopNonces(kek, () => t);
    const rs = sharedDpopNonces(Buffer.alloc(32, 1), () => t);
    const n = as.current();
    expect(rs.current()).toBe(n);
    expect(rs.isValid(n)).toBe(true);
    expect(sharedDpopNonces(Buffer.alloc(32, 2), () => t).isValid(n)).toBe(false);
    t += DPOP_NONCE_ROTATE_SECONDS * 1000;
    expect(rs.isValid(n)).toBe(true);
    t += DPOP_NONCE_ROTATE_SECONDS * 1000;
    expect(rs.isValid(n)).toBe(false);
  });

  it('[RFC9449-PROOF-SYNTAX] accepts only asymmetric proof algorithms', () => {
    for (const alg of DPOP_SIGNING_ALGS) expect(ASYMMETRIC_ALGS as readonly string[]).toContain(alg);
  });
});
