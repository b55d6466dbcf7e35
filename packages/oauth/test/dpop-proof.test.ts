import { describe, expect, it } from 'vitest';
import { prng } from './jwt-fixtures.ts';
import { KeyObject, createHash, sign } from 'node:crypto';
import { CompactSign, calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import {
  OAuthError,
  accessTokenHash,
  createDpopKeyCache,
  createDpopNonces,
  createMemoryJtiStore,
  createSignatureBatch,
  expectedHtu,
  normalizeHtu,
  verifyDpopProof,
  type DpopProofExpectations,
  type JtiStore,
} from '../src/index.ts';

const NOW = 1_800_000_000_000;
const now = () => NOW;
const HTU = 'https://mcp.example.com/mcp';
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJjbmYiOnsiamt0IjoieCJ9fQ.c2ln';

interface Signer {
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
}
async function signer(alg: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, privateKey, jwk: await exportJWK(publicKey) };
}
const es256 = await signer('ES256');
const other = await signer('ES256');

/** A proof with exactly this header and these claims, signed by `key` (whatever the header says). */
async function rawProof(header: Record<string, unknown>, claims: Record<string, unknown>, key: CryptoKey = es256.privateKey): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader(header as { alg: string })
    .sign(key);
}
let seq = 0;
function proof(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, s: Signer = es256): Promise<string> {
  return rawProof(
    { typ: 'dpop+jwt', alg: s.alg, jwk: s.jwk, ...header },
    { jti: `jti-${++seq}`, htm: 'POST', htu: HTU, iat: NOW / 1000, ...claims },
    s.privateKey,
  );
}
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
/** An ES256 signature over any header at all (jose refuses to sign some, e.g. an unknown `crit`). */
function es256Raw(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: KeyObject.from(es256.privateKey), dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

const expectations = (over: Partial<DpopProofExpectations> = {}): DpopProofExpectations => ({ htm: 'POST', htu: HTU, algs: ['ES256', 'RS256', 'PS256', 'EdDSA'], now, ...over });
const store = (): JtiStore => createMemoryJtiStore({ maxEntries: 1000, now });

/** The refusal's code and description, or 'accepted'. */
async function outcome(p: string | readonly string[] | undefined, over: Partial<DpopProofExpectations> = {}, replay: JtiStore = store()): Promise<string> {
  try {
    await verifyDpopProof(p, expectations(over), replay);
    return 'accepted';
  } catch (err) {
    if (err instanceof OAuthError) return `${err.code}: ${err.description}`;
    throw err;
  }
}

describe('verifyDpopProof: syntax and key (RFC 9449 §4.3)', () => {
  it('[RFC9449-PROOF-SYNTAX] accepts a valid ES256, RS256, PS256 and EdDSA proof and returns its key thumbprint, jti and iat', async () => {
    for (const alg of ['ES256', 'RS256', 'PS256', 'EdDSA']) {
      const s = alg === 'ES256' ? es256 : await signer(alg);
      const result = await verifyDpopProof(await proof({ jti: `one-${alg}` }, {}, s), expectations(), store());
      expect(result).toEqual({ jkt: await calculateJwkThumbprint(s.jwk, 'sha256'), jti: `one-${alg}`, iat: NOW / 1000, jwk: s.jwk });
    }
  });

  it('[RFC9449-PROOF-SYNTAX] refuses a missing proof, several proofs (joined by a comma or as an array) and an oversized one', async () => {
    const p = await proof();
    expect(await outcome(undefined)).toBe('invalid_dpop_proof: missing DPoP proof');
    expect(await outcome('')).toBe('invalid_dpop_proof: missing DPoP proof');
    expect(await outcome([])).toBe('invalid_dpop_proof: missing DPoP proof');
    expect(await outcome(`${p}, ${await proof()}`)).toBe('invalid_dpop_proof: more than one DPoP proof');
    expect(await outcome([p, await proof()])).toBe('invalid_dpop_proof: more than one DPoP header');
    expect(await outcome([p])).toBe('accepted');
    expect(await outcome(await proof({ pad: 'x'.repeat(4096) }))).toBe('invalid_dpop_proof: DPoP proof is larger than 4096 bytes');
    expect(await outcome(p, { maxBytes: p.length - 1 })).toBe(`invalid_dpop_proof: DPoP proof is larger than ${p.length - 1} bytes`);
  });

  it('[RFC9449-PROOF-SYNTAX] refuses what is not a compact JWS, or whose header or payload is not base64url JSON', async () => {
    const [h, c, sig] = (await proof()).split('.') as [string, string, string];
    for (const bad of ['a.b', `${h}.${c}`, `${h}.${c}.${sig}.x`, `${h}..${sig}`, `${h}.${c}.${sig} `, `${h}+.${c}.${sig}`, `${h}.${c}.${sig}=`, 'ey J.x.y'])
      expect(await outcome(bad)).toBe('invalid_dpop_proof: DPoP proof is not a compact JWS');
    expect(await outcome(`abc.${c}.${sig}`)).toBe('invalid_dpop_proof: DPoP proof header is not a JSON object');
    expect(await outcome(`${b64([1])}.${c}.${sig}`)).toBe('invalid_dpop_proof: DPoP proof header is not a JSON object');
    expect(await outcome(`${h}.abc.${sig}`)).toBe('invalid_dpop_proof: DPoP proof payload is not a JSON object');
    expect(await outcome(`${h}.${b64('claims')}.${sig}`)).toBe('invalid_dpop_proof: DPoP proof payload is not a JSON object');
  });

  it("[RFC9449-PROOF-SYNTAX] refuses a typ other than 'dpop+jwt'", async () => {
    for (const typ of ['JWT', 'at+jwt', 'application/dpop+jwt', 'DPOP+JWT', undefined])
      expect(await outcome(await proof({}, { typ }))).toBe("invalid_dpop_proof: DPoP proof 'typ' must be 'dpop+jwt'");
  });

  it('[RFC9449-PROOF-SYNTAX] refuses alg none, HMAC algorithms and algorithms outside the allowed list', async () => {
    const [, c] = (await proof()).split('.') as [string, string];
    const none = `${b64({ typ: 'dpop+jwt', alg: 'none', jwk: es256.jwk })}.${c}.AAAA`;
    expect(await outcome(none)).toBe("invalid_dpop_proof: DPoP proof 'alg' must be one of ES256, RS256, PS256, EdDSA");
    expect(await outcome(`${b64({ typ: 'dpop+jwt', alg: 'none', jwk: es256.jwk })}.${c}.`)).toBe('invalid_dpop_proof: DPoP proof is not a compact JWS');
    const hs = await rawProof({ typ: 'dpop+jwt', alg: 'HS256', jwk: es256.jwk }, { jti: 'h', htm: 'POST', htu: HTU, iat: NOW / 1000 }, new Uint8Array(32) as unknown as CryptoKey);
    expect(await outcome(hs)).toBe("invalid_dpop_proof: DPoP proof 'alg' must be one of ES256, RS256, PS256, EdDSA");
    expect(await outcome(await proof(), { algs: ['RS256'] })).toBe("invalid_dpop_proof: DPoP proof 'alg' must be one of RS256");
    // A server configured with a symmetric or unknown algorithm is a programming error, not a client's.
    await expect(verifyDpopProof(await proof(), expectations({ algs: ['ES256', 'HS256'] }), store())).rejects.toThrow(TypeError);
    await expect(verifyDpopProof(await proof(), expectations({ algs: ['none'] }), store())).rejects.toThrow(TypeError);
    await expect(verifyDpopProof(await proof(), expectations({ algs: [] }), store())).rejects.toThrow(TypeError);
  });

  it('[RFC9449-PROOF-SYNTAX] refuses a jwk that is missing, not an object, private, symmetric or of the wrong type for alg', async () => {
    const privateJwk = await exportJWK(es256.privateKey);
    expect(privateJwk.d).toBeTypeOf('string');
    expect(await outcome(await proof({}, { jwk: privateJwk }))).toBe("invalid_dpop_proof: DPoP proof 'jwk' must be a public key");
    for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'])
      expect(await outcome(await proof({}, { jwk: { ...es256.jwk, [m]: 'AAAA' } }))).toBe("invalid_dpop_proof: DPoP proof 'jwk' must be a public key");
    for (const jwk of [undefined, 'jwk', [es256.jwk], null])
      expect(await outcome(await proof({}, { jwk }))).toBe("invalid_dpop_proof: DPoP proof header has no 'jwk' object");
    expect(await outcome(await proof({}, { jwk: { kty: 'oct' } }))).toBe("invalid_dpop_proof: DPoP proof 'jwk' must be an EC, RSA or OKP public key");
    const rsa = await signer('RS256');
    expect(await outcome(await proof({}, { jwk: rsa.jwk }))).toBe("invalid_dpop_proof: DPoP proof 'jwk' is not a usable key for its 'alg'");
    expect(await outcome(await proof({}, { jwk: { kty: 'EC', crv: 'P-256', x: es256.jwk.x } }))).toBe("invalid_dpop_proof: DPoP proof 'jwk' is not a usable key for its 'alg'");
    expect(await outcome(await proof({}, { jwk: { ...es256.jwk, key_ops: ['sign'] } }))).toBe("invalid_dpop_proof: DPoP proof 'jwk' is not a usable key for its 'alg'");
  });

  it('[RFC9449-PROOF-SYNTAX] refuses a proof whose signature is not by the jwk of its header', async () => {
    expect(await outcome(await proof({}, { jwk: other.jwk }))).toBe('invalid_dpop_proof: DPoP proof signature is invalid');
    const [h, , sig] = (await proof()).split('.') as [string, string, string];
    const [, c2] = (await proof({ jti: 'swapped' })).split('.') as [string, string];
    expect(await outcome(`${h}.${c2}.${sig}`)).toBe('invalid_dpop_proof: DPoP proof signature is invalid');
    const claims = { jti: 'crit', htm: 'POST', htu: HTU, iat: NOW / 1000 };
    expect(await outcome(es256Raw({ typ: 'dpop+jwt', alg: 'ES256', jwk: es256.jwk }, claims))).toBe('accepted');
    expect(await outcome(es256Raw({ typ: 'dpop+jwt', alg: 'ES256', jwk: es256.jwk, crit: ['exp'], exp: 1 }, claims))).toBe('invalid_dpop_proof: DPoP proof signature is invalid');
  });

  it('[RFC9449-PROOF-SYNTAX] answers 401 instead of 400 when checked at a protected resource', async () => {
    const err = await verifyDpopProof(await proof({ htm: 'GET' }), expectations({ status: 401 }), store()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OAuthError);
    expect(err).toMatchObject({ code: 'invalid_dpop_proof', status: 401 });
    expect(await verifyDpopProof(await proof({ htm: 'GET' }), expectations(), store()).catch((e: unknown) => e)).toMatchObject({ status: 400 });
  });
});

describe('verifyDpopProof: key cache', () => {
  it('[RFC9449-PROOF-SYNTAX] a cached header gives the same result, still checks alg, claims and signature, and only a verified header is cached', async () => {
    const keyCache = createDpopKeyCache(2);
    const sets: string[] = [];
    const spy = { get: (h: string) => keyCache.get(h), set: (h: string, k: Parameters<typeof keyCache.set>[1]) => (sets.push(h), keyCache.set(h, k)) };
    const first = await verifyDpopProof(await proof(), expectations({ keyCache: spy }), store());
    const second = await verifyDpopProof(await proof(), expectations({ keyCache: spy }), store());
    expect(second).toEqual({ ...first, jti: second.jti });
    expect(sets).toHaveLength(1);
    expect(await outcome(await proof(), { keyCache: spy, algs: ['RS256'] })).toBe("invalid_dpop_proof: DPoP proof 'alg' must be one of RS256");
    expect(await outcome(await proof({ htm: 'GET' }), { keyCache: spy })).toBe("invalid_dpop_proof: DPoP proof 'htm' does not match the request method");
    const [h] = (await proof()).split('.') as [string];
    const [, c, sig] = (await proof({}, {}, other)).split('.') as [string, string, string];
    expect(await outcome(`${h}.${c}.${sig}`, { keyCache: spy })).toBe('invalid_dpop_proof: DPoP proof signature is invalid');
    expect(await outcome(await proof({}, { jwk: other.jwk }), { keyCache: spy })).toBe('invalid_dpop_proof: DPoP proof signature is invalid');
    expect(sets).toHaveLength(1);
    expect(() => createDpopKeyCache(0)).toThrow(TypeError);
  });

  it('[RFC9449-PROOF-SYNTAX] a cached key verifies the next proofs with node:crypto for every alg, and refuses another key\'s or a changed signature', async () => {
    for (const alg of ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA']) {
      const s = alg === 'ES256' ? es256 : await signer(alg);
      const keyCache = createDpopKeyCache();
      const exp = { keyCache, algs: [alg] };
      expect(await outcome(await proof({}, {}, s), exp), alg).toBe('accepted');
      expect(keyCache.get((await proof({}, {}, s)).split('.')[0]!)?.verifier, alg).toBeDefined();
      expect(await outcome(await proof({}, {}, s), exp), alg).toBe('accepted');
      // The same header (so the cached key) over claims signed by another key of that alg.
      const [h] = (await proof({}, {}, s)).split('.') as [string];
      const [, c, sig] = (await proof({}, {}, await signer(alg))).split('.') as [string, string, string];
      expect(await outcome(`${h}.${c}.${sig}`, exp), alg).toBe('invalid_dpop_proof: DPoP proof signature is invalid');
      const [h2, c2, sig2] = (await proof({}, {}, s)).split('.') as [string, string, string];
      const flipped = `${sig2.slice(0, 10)}${sig2[10] === 'A' ? 'B' : 'A'}${sig2.slice(11)}`;
      expect(await outcome(`${h2}.${c2}.${flipped}`, exp), alg).toBe('invalid_dpop_proof: DPoP proof signature is invalid');
      expect(await outcome(`${h2}.${c2}.${sig2.slice(0, -4)}`, exp), alg).toBe('invalid_dpop_proof: DPoP proof signature is invalid');
    }
  });

  it('[RFC9449-PROOF-SYNTAX] a header with another alg or another jwk is another cache entry, checked afresh, never the cached key', async () => {
    const keyCache = createDpopKeyCache(10);
    expect(await outcome(await proof(), { keyCache })).toBe('accepted');
    // The cached key's jwk under another alg: its own header, refused on its own merits.
    expect(await outcome(es256Raw({ typ: 'dpop+jwt', alg: 'ES384', jwk: es256.jwk }, { jti: 'a1', htm: 'POST', htu: HTU, iat: NOW / 1000 }), { keyCache, algs: ['ES256', 'ES384'] }))
      .toBe("invalid_dpop_proof: DPoP proof 'jwk' is not a usable key for its 'alg'");
    // The same members in another order, or with an extra member, are other bytes: checked afresh and
    // cached separately once they verify; a different key never verifies against the cached one.
    const reordered = { y: es256.jwk.y, x: es256.jwk.x, crv: es256.jwk.crv, kty: es256.jwk.kty };
    expect(await outcome(await proof({}, { jwk: reordered }), { keyCache })).toBe('accepted');
    expect(await outcome(await proof({}, { jwk: { ...es256.jwk, d: 'AAAA' } }), { keyCache })).toBe("invalid_dpop_proof: DPoP proof 'jwk' must be a public key");
    expect(await outcome(await proof({}, { jwk: other.jwk }), { keyCache })).toBe('invalid_dpop_proof: DPoP proof signature is invalid');
    const [h1] = (await proof()).split('.') as [string];
    const [h2] = (await proof({}, { jwk: reordered })).split('.') as [string];
    expect(keyCache.get(h1)?.jkt).toBe(keyCache.get(h2)?.jkt);
    expect(keyCache.get((await proof({}, { jwk: other.jwk })).split('.')[0]!)).toBeUndefined();
  });

  it('[RFC9449-PROOF-SYNTAX] with a signature batch, proofs checked in the same turn by a cached key each get their own answer', async () => {
    const keyCache = createDpopKeyCache();
    const signatures = createSignatureBatch(3);
    const exp = { keyCache, signatures, accessToken: TOKEN };
    const forToken = (s: Signer = es256) => proof({ ath: accessTokenHash(TOKEN) }, {}, s);
    // The first proof caches the key (jose checks it); the next ones go through the batch.
    expect(await outcome(await forToken(), exp)).toBe('accepted');
    const [h] = (await proof()).split('.') as [string];
    const forged = async () => {
      const [, c, sig] = (await forToken(other)).split('.') as [string, string, string];
      return `${h}.${c}.${sig}`;
    };
    const asked = [await forToken(), await forged(), await forToken(), await forToken(), await forged(), await forToken()];
    const replay = store();
    const answers = await Promise.all(asked.map((p) => outcome(p, exp, replay)));
    const invalid = 'invalid_dpop_proof: DPoP proof signature is invalid';
    expect(answers).toEqual(['accepted', invalid, 'accepted', 'accepted', invalid, 'accepted']);
    // Checked after the batch as before: a proof accepted in it is a replay the next time.
    expect(await outcome(asked[0], exp, replay)).toBe('invalid_dpop_proof: DPoP proof has already been used');
  });

  it('[RFC9449-PROOF-SYNTAX] the key cache keeps the most recently used headers up to its size', () => {
    const c = createDpopKeyCache(2);
    const k = (jkt: string) => ({ alg: 'ES256', jwk: {}, key: es256.privateKey, jkt });
    c.set('a', k('a'));
    c.set('b', k('b'));
    expect(c.get('a')?.jkt).toBe('a'); // a is now the most recent
    c.set('c', k('c'));
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')?.jkt).toBe('a');
    expect(c.get('c')?.jkt).toBe('c');
  });
});

/** Spellings of HTU a proof may carry (RFC 3986 §6 normalisation; query and fragment ignored). */
const SAME_HTU = [
      HTU,
      'HTTPS://MCP.Example.COM/mcp',
      'https://mcp.example.com:443/mcp',
      'https://mcp.example.com/mcp?session=1',
      'https://mcp.example.com/mcp#frag',
      'https://mcp.example.com/x/../mcp',
      'https://mcp.example.com/%6Dcp',
];
/** Values naming another URI, or none. */
const OTHER_HTU: unknown[] = [
      'https://mcp.example.com/mcp/',
      'https://mcp.example.com/other',
      'https://mcp.example.com/MCP',
      'http://mcp.example.com/mcp',
      'https://evil.example.com/mcp',
      'https://mcp.example.com:8443/mcp',
      'https://user@mcp.example.com/mcp',
      'https://mcp.example.com/a%2Fmcp',
      'wss://mcp.example.com/mcp',
      '/mcp',
      'not a uri',
      '',
      42,
      undefined,
];

describe('verifyDpopProof: the request it names (RFC 9449 §4.3 points 8-11)', () => {
  it('[RFC9449-PROOF-REQUEST] refuses a missing, empty, non-string or over-long jti', async () => {
    const msg = "invalid_dpop_proof: DPoP proof 'jti' must be a string of 1 to 256 characters";
    for (const jti of [undefined, '', 7, 'j'.repeat(257)]) expect(await outcome(await proof({ jti }))).toBe(msg);
    expect(await outcome(await proof({ jti: 'j'.repeat(256) }))).toBe('accepted');
  });

  it('[RFC9449-PROOF-REQUEST] htm must equal the request method exactly', async () => {
    for (const htm of ['GET', 'post', 'POST ', undefined, ['POST']])
      expect(await outcome(await proof({ htm }))).toBe("invalid_dpop_proof: DPoP proof 'htm' does not match the request method");
    expect(await outcome(await proof({ htm: 'GET' }), { htm: 'GET' })).toBe('accepted');
  });

  it('[RFC9449-PROOF-REQUEST] htu ignores query and fragment and is compared after RFC 3986 §6 normalisation', async () => {
    for (const htu of SAME_HTU) expect(await outcome(await proof({ htu })), htu).toBe('accepted');
    expect(await outcome(await proof(), { htu: `${HTU}?a=b#c` })).toBe('accepted');
    expect(await outcome(await proof({ htu: 'https://mcp.example.com/a%2fb' }), { htu: 'https://mcp.example.com/a%2Fb' })).toBe('accepted');
    expect(await outcome(await proof({ htu: 'https://as.example.com' }), { htu: 'https://as.example.com/' })).toBe('accepted');
  });

  it('[RFC9449-PROOF-REQUEST] htu for another path, scheme, host, port or with user information is refused', async () => {
    for (const htu of OTHER_HTU)
      expect(await outcome(await proof({ htu })), String(htu)).toBe("invalid_dpop_proof: DPoP proof 'htu' does not match the request URI");
  });

  it('[RFC9449-PROOF-REQUEST] an htu normalised once per server (expectedHtu) accepts and refuses exactly what the plain URI does', async () => {
    const once = expectedHtu(`${HTU}?q#f`);
    expect(once.normalized).toBe(HTU);
    for (const htu of SAME_HTU) expect(await outcome(await proof({ htu }), { htu: once }), htu).toBe('accepted');
    for (const htu of OTHER_HTU)
      expect(await outcome(await proof({ htu }), { htu: once }), String(htu)).toBe("invalid_dpop_proof: DPoP proof 'htu' does not match the request URI");
    // A proof whose htu is the normalised form is taken without normalising it: right only because
    // normalising is idempotent.
    for (const htu of [...SAME_HTU, 'HTTP://Example.COM:80/a/./b/%7e%3a?q#f', 'https://h.example/a%2fb/%2e%2E/c', 'https://h.example/%41%7A%2D']) {
      const n = normalizeHtu(htu)!;
      expect(normalizeHtu(n), htu).toBe(n);
    }
    for (const bad of ['ftp://example.com/', 'https://u:p@example.com/', '/mcp', 'not a uri']) expect(() => expectedHtu(bad), bad).toThrow(TypeError);
  });

  it('[RFC9449-PROOF-REQUEST] normalizeHtu keeps scheme, host and path only', () => {
    expect(normalizeHtu('HTTP://Example.COM:80/a/./b/%7e%3a?q#f')).toBe('http://example.com/a/b/~%3A');
    expect(normalizeHtu('https://example.com')).toBe('https://example.com/');
    expect(normalizeHtu('ftp://example.com/')).toBeUndefined();
    expect(normalizeHtu('https://u:p@example.com/')).toBeUndefined();
  });

  it('[RFC9449-PROOF-REQUEST] iat must be a number within 60 s in the past and 10 s in the future by default', async () => {
    const t = NOW / 1000;
    expect(await outcome(await proof({ iat: t - 60 }))).toBe('accepted');
    expect(await outcome(await proof({ iat: t - 61 }))).toBe('invalid_dpop_proof: DPoP proof is too old');
    expect(await outcome(await proof({ iat: t + 10 }))).toBe('accepted');
    expect(await outcome(await proof({ iat: t + 11 }))).toBe("invalid_dpop_proof: DPoP proof 'iat' is in the future");
    for (const iat of [undefined, String(t), null, [t]]) expect(await outcome(await proof({ iat }))).toBe("invalid_dpop_proof: DPoP proof 'iat' must be a number");
    const window = { pastSeconds: 300, futureSeconds: 0 };
    expect(await outcome(await proof({ iat: t - 300 }), { iatWindow: window })).toBe('accepted');
    expect(await outcome(await proof({ iat: t + 1 }), { iatWindow: window })).toBe("invalid_dpop_proof: DPoP proof 'iat' is in the future");
  });

  it('[RFC9449-ATH] with an access token, ath must be the base64url SHA-256 of that token', async () => {
    const ath = createHash('sha256').update(TOKEN).digest('base64url');
    expect(accessTokenHash(TOKEN)).toBe(ath);
    expect(await outcome(await proof({ ath }), { accessToken: TOKEN })).toBe('accepted');
    expect(await outcome(await proof(), { accessToken: TOKEN })).toBe("invalid_dpop_proof: DPoP proof has no 'ath' for the access token");
    expect(await outcome(await proof({ ath: 42 }), { accessToken: TOKEN })).toBe("invalid_dpop_proof: DPoP proof has no 'ath' for the access token");
    expect(await outcome(await proof({ ath: accessTokenHash(`${TOKEN}x`) }), { accessToken: TOKEN })).toBe("invalid_dpop_proof: DPoP proof 'ath' does not match the access token");
    expect(await outcome(await proof({ ath: TOKEN }), { accessToken: TOKEN })).toBe("invalid_dpop_proof: DPoP proof 'ath' does not match the access token");
    // Compared as the exact 43 base64url characters: one changed, one more or padding is another value.
    for (const wrong of [`${ath.slice(0, 20)}${ath[20] === 'A' ? 'B' : 'A'}${ath.slice(21)}`, `${ath}=`, `${ath}A`, ath.slice(0, -1), ''])
      expect(await outcome(await proof({ ath: wrong }), { accessToken: TOKEN }), wrong).toBe("invalid_dpop_proof: DPoP proof 'ath' does not match the access token");
    // At the token endpoint there is no token yet: ath is not looked at.
    expect(await outcome(await proof({ ath: 'whatever' }))).toBe('accepted');
  });
});

describe('verifyDpopProof: replay and nonces (RFC 9449 §8, §11.1)', () => {
  it('[RFC9449-JTI-REPLAY] the same proof is accepted once; the same jti from another key is a different proof', async () => {
    const replay = store();
    const p = await proof({ jti: 'reused' });
    expect(await outcome(p, {}, replay)).toBe('accepted');
    expect(await outcome(p, {}, replay)).toBe('invalid_dpop_proof: DPoP proof has already been used');
    expect(await outcome(await proof({ jti: 'reused', iat: NOW / 1000 - 1 }), {}, replay)).toBe('invalid_dpop_proof: DPoP proof has already been used');
    expect(await outcome(await proof({ jti: 'reused' }, {}, other), {}, replay)).toBe('accepted');
  });

  it('[RFC9449-JTI-REPLAY] the jti is kept until the proof leaves the iat window, and a refused proof uses no entry', async () => {
    const keys: [string, number][] = [];
    const spy: JtiStore = { remember: (k, exp) => (keys.push([k, exp]), Promise.resolve(true)) };
    await verifyDpopProof(await proof({ iat: NOW / 1000 - 5 }), expectations(), spy);
    expect(keys[0]?.[1]).toBe(NOW - 5_000 + 61_000);
    await expect(verifyDpopProof(await proof({ htm: 'GET' }), expectations(), spy)).rejects.toThrow(OAuthError);
    await expect(verifyDpopProof(await proof(), expectations({ nonce: 'n-1' }), spy)).rejects.toThrow(OAuthError);
    expect(keys).toHaveLength(1);
  });

  it('[RFC9449-JTI-REPLAY] a replay cache that cannot answer refuses the proof with 503, never accepts it', async () => {
    const down: JtiStore = { remember: () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379')) };
    const err = await verifyDpopProof(await proof(), expectations(), down).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'temporarily_unavailable', status: 503, description: 'the DPoP replay cache is unavailable, retry later' });
  });

  it('[RFC9449-NONCE] a required nonce that is missing or wrong gets use_dpop_nonce carrying the fresh nonce', async () => {
    const nonces = createDpopNonces({ secret: new Uint8Array(32).fill(7), now, rotateSeconds: 300 });
    for (const nonce of [undefined, 'stale', 7]) {
      const err = await verifyDpopProof(await proof({ nonce }), expectations({ nonce: nonces, status: 401 }), store()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OAuthError);
      expect(err).toMatchObject({ code: 'use_dpop_nonce', status: 401, dpopNonce: nonces.current() });
    }
    expect(await outcome(await proof({ nonce: nonces.current() }), { nonce: nonces })).toBe('accepted');
    expect(await outcome(await proof({ nonce: 'fixed' }), { nonce: 'fixed' })).toBe('accepted');
    const err = await verifyDpopProof(await proof({ nonce: 'other' }), expectations({ nonce: 'fixed' }), store()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'use_dpop_nonce', status: 400, dpopNonce: 'fixed' });
  });

  it("[RFC9449-NONCE] the previous window's nonce is still accepted, the one before is not", async () => {
    let t = NOW;
    const nonces = createDpopNonces({ secret: new Uint8Array(32).fill(7), now: () => t, rotateSeconds: 300 });
    const issued = nonces.current();
    t += 300_000;
    const proofAt = () => proof({ nonce: issued, iat: t / 1000 });
    expect(await outcome(await proofAt(), { nonce: nonces, now: () => t })).toBe('accepted');
    t += 300_000;
    expect(await outcome(await proofAt(), { nonce: nonces, now: () => t })).toMatch(/^use_dpop_nonce: /);
  });

  it('[RFC9449-NONCE] only a signed, otherwise valid proof gets a nonce challenge', async () => {
    expect(await outcome(await proof({}, { jwk: other.jwk }), { nonce: 'n' })).toBe('invalid_dpop_proof: DPoP proof signature is invalid');
    expect(await outcome(await proof({ htm: 'GET' }), { nonce: 'n' })).toBe("invalid_dpop_proof: DPoP proof 'htm' does not match the request method");
  });
});

describe('verifyDpopProof: fuzzing', () => {
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.,= \u00e9\u0000';
  const VALUES: unknown[] = [null, true, 0, -1, 1e308, '', 'x', 'ES256', 'dpop+jwt', [], {}, [1, 2], { kty: 'EC' }, 'y'.repeat(300), { jkt: 'x' }];

  it('[RFC9449-PROOF-SYNTAX] random byte mutations of a valid proof are refused with an OAuthError, never anything else', async () => {
    const rand = prng(9449);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const base = await proof({ ath: accessTokenHash(TOKEN) });
    const keyCache = createDpopKeyCache(); // mutations outside the header take the cached-key path
    let accepted = 0;
    for (let i = 0; i < 400; i++) {
      const chars = [...base];
      for (let m = 1 + Math.floor(rand() * 4); m > 0; m--) {
        const at = Math.floor(rand() * chars.length);
        const op = rand();
        if (op < 0.4) chars[at] = pick([...ALPHABET]);
        else if (op < 0.6) chars.splice(at, 1);
        else if (op < 0.8) chars.splice(at, 0, pick([...ALPHABET]));
        else chars.length = at;
      }
      const mutated = chars.join('');
      try {
        await verifyDpopProof(mutated, expectations({ accessToken: TOKEN, keyCache }), store());
        accepted++;
      } catch (err) {
        expect(err, `seed 9449 iteration ${i}`).toBeInstanceOf(OAuthError);
        expect((err as OAuthError).status).toBe(400);
      }
    }
    // Only mutations that leave the decoded bytes unchanged (base64url's unused trailing bits) can pass.
    expect(accepted).toBeLessThan(20);
  });

  it('[RFC9449-PROOF-REQUEST] validly signed proofs with random header and claim values are refused with an OAuthError, never anything else', async () => {
    const rand = prng(7638);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    for (let i = 0; i < 150; i++) {
      const header: Record<string, unknown> = { typ: 'dpop+jwt', alg: 'ES256', jwk: { ...es256.jwk } };
      const claims: Record<string, unknown> = { jti: `f-${i}`, htm: 'POST', htu: HTU, iat: NOW / 1000, ath: accessTokenHash(TOKEN), nonce: 'n' };
      const target = rand() < 0.3 ? (header.jwk as Record<string, unknown>) : rand() < 0.5 ? header : claims;
      const field = pick([...Object.keys(target), 'kid', 'crit', 'b64']);
      if (rand() < 0.2) delete target[field];
      else target[field] = pick(VALUES);
      try {
        await verifyDpopProof(es256Raw(header, claims), expectations({ accessToken: TOKEN, nonce: 'n', status: 401 }), store());
      } catch (err) {
        expect(err, `seed 7638 iteration ${i}: ${field}`).toBeInstanceOf(OAuthError);
        expect((err as OAuthError).status).toBe(401);
      }
    }
  });
});
