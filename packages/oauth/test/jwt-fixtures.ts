import { createLocalJWKSet, exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { expect } from 'vitest';
import { OAuthError, type AssertionKeys } from '../src/index.ts';

/** Fixed clock for every assertion test: 2027-01-15T08:00:00Z. */
export const NOW_MS = 1_800_000_000_000;
export const NOW = NOW_MS / 1000;

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicPem: string;
}

export async function testKey(alg = 'ES256', kid = `${alg.toLowerCase()}-1`): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

export const keySet = (...keys: (TestKey | JWK)[]): AssertionKeys =>
  createLocalJWKSet({ keys: keys.map((k): JWK => ('publicJwk' in k ? k.publicJwk : k)) });

export interface SignOptions {
  header?: Record<string, unknown>;
  /** Leave `kid` out of the header. */
  noKid?: boolean;
}

export async function sign(key: TestKey, claims: JWTPayload, opts: SignOptions = {}): Promise<string> {
  const header = { alg: key.alg, ...(opts.noKid ? {} : { kid: key.kid }), ...opts.header };
  return new SignJWT(claims).setProtectedHeader(header).sign(key.privateKey);
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A JWS with any header, claims and signature bytes, for tokens no library would sign. */
export const rawJwt = (header: unknown, claims: unknown, signature = 'c2lnbmF0dXJl') => `${b64(header)}.${b64(claims)}.${signature}`;

/** Asserts `p` rejects with an OAuthError of this code and status whose description matches `d`. */
export async function expectOAuthError(p: Promise<unknown>, code: string, status: number, d: RegExp): Promise<OAuthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a rejection').toBeInstanceOf(OAuthError);
  const e = err as OAuthError;
  expect({ code: e.code, status: e.status }).toEqual({ code, status });
  expect(e.description).toMatch(d);
  return e;
}

/** The description must not repeat the token or any of these claim values. */
export function expectNoEcho(err: OAuthError, token: string, values: string[]): void {
  expect(err.description).not.toContain(token.slice(0, 20));
  for (const v of values) expect(err.description).not.toContain(v);
}

/** Deterministic PRNG (mulberry32) for the seeded fuzz. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Small random edits of a compact JWS: byte flips, cuts, inserted dots, swapped or re-encoded parts. */
export function mutate(token: string, rand: () => number): string {
  const pick = (n: number) => Math.floor(rand() * n);
  const parts = token.split('.');
  switch (pick(8)) {
    case 0: {
      const i = pick(token.length);
      const alphabet = 'ABCxyz019-_.=+/ ';
      return token.slice(0, i) + alphabet[pick(alphabet.length)] + token.slice(i + 1);
    }
    case 1:
      return token.slice(0, pick(token.length));
    case 2:
      return token + '.' + parts[pick(parts.length)];
    case 3:
      return [parts[1], parts[0], parts[2]].join('.');
    case 4: {
      // Re-encode the claims with one member changed or dropped: a valid shape with a stale signature.
      const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as Record<string, unknown>;
      const keys = Object.keys(claims);
      const k = keys[pick(keys.length)]!;
      const choices: unknown[] = [undefined, null, 0, -1, 1e308, '', 'x'.repeat(300), [], {}, ['a', 1], true];
      claims[k] = choices[pick(choices.length)];
      return [parts[0], b64(claims), parts[2]].join('.');
    }
    case 5: {
      const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString()) as Record<string, unknown>;
      const choices: Record<string, unknown>[] = [{ alg: 'none' }, { alg: 'HS256' }, { typ: 'at+jwt' }, { kid: 'other' }, { crit: ['x'] }, { alg: 42 }, { jwk: { kty: 'oct', k: 'AA' } }];
      return [b64({ ...header, ...choices[pick(choices.length)] }), parts[1], parts[2]].join('.');
    }
    case 6:
      return [parts[0], parts[1], ''].join('.');
    default:
      return [parts[0], b64('not json'), parts[2]].join('.');
  }
}

/**
 * Seeded fuzz: `count` mutations of a valid token only ever fail with OAuthError; the only token that
 * may pass is the valid one itself (a byte "replaced" by the same byte).
 */
export async function fuzzOnlyOAuthErrors(valid: string, verify: (token: string) => Promise<unknown>, seed: number, count = 600): Promise<void> {
  const rand = prng(seed);
  for (let i = 0; i < count; i++) {
    const m = mutate(valid, rand);
    const out = await verify(m).then(
      () => 'accepted',
      (e: unknown) => e,
    );
    if (out === 'accepted') expect(m, `mutation ${i} was accepted`).toBe(valid);
    else expect(out, `mutation ${i}`).toBeInstanceOf(OAuthError);
  }
}
