import { describe, expect, it } from 'vitest';
import { calculateJwkThumbprint } from 'jose';
import {
  OAuthError,
  bearerChallenge,
  checkDpopBinding,
  createDpopNonces,
  createMemoryJtiStore,
  dpopBoundJkt,
  dpopChallenge,
  dpopReplayKey,
  invalidDpopProof,
  refusedAsBearer,
  useDpopNonce,
} from '../src/index.ts';

const T0 = 1_800_000_000_000;

describe('memory jti store', () => {
  it('[RFC9449-JTI-REPLAY] remembers a key until it expires, then accepts it again', async () => {
    let t = T0;
    const s = createMemoryJtiStore({ maxEntries: 10, now: () => t });
    expect(await s.remember('a', T0 + 1000)).toBe(true);
    expect(await s.remember('a', T0 + 5000)).toBe(false);
    t = T0 + 999;
    expect(await s.remember('a', T0 + 5000)).toBe(false);
    t = T0 + 1000;
    expect(await s.remember('a', T0 + 2000)).toBe(true);
    expect(await s.remember('a', T0 + 2000)).toBe(false);
    // A key that has already expired has nothing to protect and takes no room.
    expect(await s.remember('gone', T0 + 1000)).toBe(true);
    expect(await s.remember('gone', T0 + 1000)).toBe(true);
    expect(s.size).toBe(1);
  });

  it('[RFC9449-JTI-REPLAY] when full it drops expired entries first, and refuses (503, Retry-After) rather than forget a live one', async () => {
    let t = T0;
    const s = createMemoryJtiStore({ maxEntries: 2, now: () => t });
    expect(await s.remember('a', T0 + 10_000)).toBe(true);
    expect(await s.remember('b', T0 + 1_000)).toBe(true); // expires first though inserted last
    const full = await s.remember('c', T0 + 60_000).catch((e: unknown) => e);
    expect(full).toBeInstanceOf(OAuthError);
    expect(full).toMatchObject({ code: 'temporarily_unavailable', status: 503, retryAfter: 1, description: 'too many DPoP proofs in flight, retry later' });
    expect(s.size).toBe(2);
    t = T0 + 1_000; // b expired; a (ahead of it in insertion order) is still live
    expect(await s.remember('c', T0 + 60_000)).toBe(true);
    expect(s.size).toBe(2);
    expect(await s.remember('a', T0 + 60_000)).toBe(false);
    expect(await s.remember('c', T0 + 60_000)).toBe(false);
    const again = await s.remember('d', T0 + 60_000).catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'temporarily_unavailable', retryAfter: 9 });
  });

  it('[RFC9449-JTI-REPLAY] under a random workload it never accepts a live key twice and never holds more than maxEntries', async () => {
    let seed = 990;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
    let t = T0;
    const s = createMemoryJtiStore({ maxEntries: 50, now: () => t });
    const live = new Map<string, number>();
    for (let i = 0; i < 5000; i++) {
      t += Math.floor(rand() * 200);
      const key = `k${Math.floor(rand() * 120)}`;
      const exp = t + Math.floor(rand() * 5000);
      const model = live.get(key);
      const r = await s.remember(key, exp).catch((e: unknown) => e);
      if (model !== undefined && model > t) expect(r, `iteration ${i}`).toBe(false);
      else if (r === true) live.set(key, exp);
      else expect(r, `iteration ${i}`).toMatchObject({ code: 'temporarily_unavailable' });
      expect(s.size).toBeLessThanOrEqual(50);
    }
  });

  it('[RFC9449-JTI-REPLAY] replay keys are per proof key: the same jti under two thumbprints differs, and no separator trick collides', () => {
    expect(dpopReplayKey('jktA', 'j')).not.toBe(dpopReplayKey('jktB', 'j'));
    expect(dpopReplayKey('ab', 'c')).not.toBe(dpopReplayKey('a', 'bc'));
    expect(dpopReplayKey('a', 'b')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(() => createMemoryJtiStore({ maxEntries: 0, now: () => T0 })).toThrow(TypeError);
  });
});

describe('DPoP nonces', () => {
  const secret = new Uint8Array(32).fill(1);

  it('[RFC9449-NONCE] the nonce is stable within a window, rotates after it, and the previous one stays valid for one more window', () => {
    let t = T0;
    const n = createDpopNonces({ secret, now: () => t, rotateSeconds: 60 });
    const first = n.current();
    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
    t += 1;
    expect(n.current()).toBe(first);
    expect(n.isValid(first)).toBe(true);
    t = (Math.floor(T0 / 60_000) + 1) * 60_000; // the next window starts
    const second = n.current();
    expect(second).not.toBe(first);
    expect(n.isValid(second)).toBe(true);
    expect(n.isValid(first)).toBe(true);
    t += 60_000;
    expect(n.isValid(first)).toBe(false);
    expect(n.isValid(second)).toBe(true);
  });

  it('[RFC9449-NONCE] instances sharing the secret agree; another secret or a made-up value is refused', () => {
    const a = createDpopNonces({ secret, now: () => T0, rotateSeconds: 60 });
    const b = createDpopNonces({ secret: new Uint8Array(secret), now: () => T0, rotateSeconds: 60 });
    const c = createDpopNonces({ secret: new Uint8Array(32).fill(2), now: () => T0, rotateSeconds: 60 });
    expect(b.current()).toBe(a.current());
    expect(b.isValid(a.current())).toBe(true);
    expect(c.isValid(a.current())).toBe(false);
    for (const bad of ['', 'nonce', a.current().slice(1), `${a.current()}x`]) expect(a.isValid(bad)).toBe(false);
  });

  it('[RFC9449-NONCE] refuses a short secret and a bad window, and copies the secret', () => {
    expect(() => createDpopNonces({ secret: new Uint8Array(31), now: () => T0, rotateSeconds: 60 })).toThrow(TypeError);
    expect(() => createDpopNonces({ secret, now: () => T0, rotateSeconds: 0 })).toThrow(TypeError);
    expect(() => createDpopNonces({ secret, now: () => T0, rotateSeconds: 1.5 })).toThrow(TypeError);
    const mutable = new Uint8Array(32).fill(3);
    const n = createDpopNonces({ secret: mutable, now: () => T0, rotateSeconds: 60 });
    const before = n.current();
    mutable.fill(4);
    expect(createDpopNonces({ secret: new Uint8Array(32).fill(3), now: () => T0 + 60_000, rotateSeconds: 60 }).isValid(before)).toBe(true);
    expect(n.isValid(before)).toBe(true);
  });
});

describe('DPoP errors and challenge', () => {
  it('[RFC9449-CHALLENGE] WWW-Authenticate: DPoP lists algs first, then error, error_description and the other parameters', () => {
    expect(dpopChallenge({ algs: ['ES256', 'RS256'] })).toBe('DPoP algs="ES256 RS256"');
    expect(dpopChallenge({ algs: ['ES256'], error: 'invalid_dpop_proof', error_description: 'DPoP proof "htu" mismatch', resource_metadata: 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp', scope: undefined })).toBe(
      'DPoP algs="ES256", error="invalid_dpop_proof", error_description="DPoP proof \\"htu\\" mismatch", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"',
    );
    expect(dpopChallenge({ resource_metadata: 'https://r', algs: ['ES256'], error: 'use_dpop_nonce' })).toBe('DPoP algs="ES256", error="use_dpop_nonce", resource_metadata="https://r"');
    expect(bearerChallenge({ error: 'invalid_token', scope: undefined })).toBe('Bearer error="invalid_token"');
    expect(bearerChallenge({})).toBe('Bearer');
  });

  it('[RFC9449-CHALLENGE] invalid_dpop_proof and use_dpop_nonce errors carry the status the caller chose and the nonce', () => {
    expect(invalidDpopProof('bad')).toMatchObject({ code: 'invalid_dpop_proof', status: 400, description: 'bad', dpopNonce: undefined });
    expect(invalidDpopProof('bad', 401).toJSON()).toEqual({ error: 'invalid_dpop_proof', error_description: 'bad' });
    expect(useDpopNonce('n1')).toMatchObject({ code: 'use_dpop_nonce', status: 400, dpopNonce: 'n1', expose: true });
    expect(useDpopNonce('n1', 401)).toMatchObject({ status: 401 });
  });
});

describe('token binding', () => {
  it('[RFC9449-JKT] the thumbprint is RFC 7638 §3.1: the example RSA key gives NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs', async () => {
    const jwk = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    expect(await calculateJwkThumbprint(jwk, 'sha256')).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('[RFC9449-JKT] a proof matches a token only when its thumbprint equals cnf.jkt', () => {
    const jkt = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
    expect(checkDpopBinding(jkt, jkt)).toBe(true);
    expect(checkDpopBinding(jkt, `${jkt.slice(0, -1)}t`)).toBe(false);
    expect(checkDpopBinding(jkt, jkt.slice(1))).toBe(false);
    for (const cnfJkt of [undefined, null, '', 42, { jkt }]) expect(checkDpopBinding(cnfJkt, jkt)).toBe(false);
    expect(dpopBoundJkt({ cnf: { jkt } })).toBe(jkt);
    for (const cnf of [undefined, null, 'x', [jkt], { jkt: '' }, { jkt: 1 }, { 'x5t#S256': 'abc' }]) expect(dpopBoundJkt({ cnf })).toBeUndefined();
  });

  it('[RFC9449-NO-BEARER-DOWNGRADE] a token with any cnf is refused as a bearer token; one without is not', () => {
    expect(refusedAsBearer({ cnf: { jkt: 'abc' } })).toBe(true);
    expect(refusedAsBearer({ cnf: { 'x5t#S256': 'abc' } })).toBe(true);
    expect(refusedAsBearer({ cnf: 'garbage' })).toBe(true);
    expect(refusedAsBearer({})).toBe(false);
    expect(refusedAsBearer({ cnf: undefined })).toBe(false);
    expect(refusedAsBearer({ cnf: null })).toBe(false);
  });
});
