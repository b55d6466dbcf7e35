import { beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { assertionClientId, memoryAssertionReplayStore, OAuthError, verifyClientAssertion, type ClientAssertionOptions } from '../src/index.ts';
import { expectNoEcho, expectOAuthError, keySet, fuzzOnlyOAuthErrors, NOW, NOW_MS, rawJwt, sign, testKey, type TestKey } from './jwt-fixtures.ts';

const ISSUER = 'https://as.example.com';
const TOKEN_ENDPOINT = 'https://as.example.com/token';
const CLIENT = 'svc-reporting';

let key: TestKey;
let rsa: TestKey;
let stranger: TestKey;
let base: ClientAssertionOptions;

beforeAll(async () => {
  [key, rsa, stranger] = await Promise.all([testKey('ES256'), testKey('RS256'), testKey('ES256', 'es256-1')]);
  base = { clientId: CLIENT, keys: keySet(key, rsa), audiences: [ISSUER, TOKEN_ENDPOINT], now: NOW_MS };
});

let n = 0;
const claims = (over: Record<string, unknown> = {}) => ({ iss: CLIENT, sub: CLIENT, aud: ISSUER, iat: NOW, exp: NOW + 300, jti: `jti-${++n}`, ...over });
const verify = (token: unknown, over: Partial<ClientAssertionOptions> = {}, store = memoryAssertionReplayStore({ now: () => NOW_MS })) =>
  verifyClientAssertion(token, { ...base, ...over }, store);
const rejects = (p: Promise<unknown>, d: RegExp) => expectOAuthError(p, 'invalid_client', 401, d);

describe('verifyClientAssertion (private_key_jwt)', () => {
  it('[RFC7523-CLIENT-AUTH] accepts an assertion signed by a registered key with iss = sub = client_id, as the MCP SDK builds it', async () => {
    const token = await sign(key, claims(), { header: { typ: 'JWT' } });
    const out = await verify(token);
    expect(out).toMatchObject({ clientId: CLIENT, alg: 'ES256', expiresAt: NOW + 300 });
    // RS256 key of the same set, no kid in the header, no typ, no iat: still one key matches.
    await expect(verify(await sign(rsa, claims({ iat: undefined }), { noKid: true }))).resolves.toMatchObject({ alg: 'RS256' });
  });

  it('[RFC7523-CLIENT-AUTH] refuses iss or sub other than the client, and a signature by a key the client did not register', async () => {
    await rejects(verify(await sign(key, claims({ iss: 'other' }))), /issuer is not the client/);
    await rejects(verify(await sign(key, claims({ sub: 'other' }))), /subject is not the client/);
    await rejects(verify(await sign(key, claims({ sub: undefined }))), /subject is not the client/);
    await rejects(verify(await sign(stranger, claims())), /signature is invalid/);
    await rejects(verify(await sign(key, claims()), { keys: keySet(rsa) }), /signing key is unknown/);
  });

  it('[RFC7523-AUD] accepts our issuer (with or without the trailing slash) or token endpoint, as a string or an array of them', async () => {
    for (const aud of [ISSUER, `${ISSUER}/`, TOKEN_ENDPOINT, [ISSUER], [ISSUER, TOKEN_ENDPOINT]]) {
      await expect(verify(await sign(key, claims({ aud })))).resolves.toMatchObject({ clientId: CLIENT });
    }
  });

  it('[RFC7523-AUD] refuses a missing or foreign audience, an array that also names another party, and path variants', async () => {
    await rejects(verify(await sign(key, claims({ aud: undefined }))), /missing the 'aud' claim/);
    await rejects(verify(await sign(key, claims({ aud: 'https://other.example.com' }))), /audience is not this authorization server/);
    await rejects(verify(await sign(key, claims({ aud: [ISSUER, 'https://other.example.com'] }))), /audience names another party/);
    await rejects(verify(await sign(key, claims({ aud: `${TOKEN_ENDPOINT}/` }))), /audience is not this authorization server/);
    await rejects(verify(await sign(key, claims({ aud: 'HTTPS://AS.EXAMPLE.COM' }))), /audience is not this authorization server/);
    await rejects(verify(await sign(key, claims({ aud: [] }))), /claim 'aud' is invalid/);
    await rejects(verify(await sign(key, claims({ aud: 42 }))), /claim 'aud' is invalid/);
  });

  it('[RFC7523-EXP] requires exp, refuses an expired assertion and one whose lifetime exceeds the maximum', async () => {
    await rejects(verify(await sign(key, claims({ exp: undefined }))), /missing the 'exp' claim/);
    await rejects(verify(await sign(key, claims({ iat: NOW - 400, exp: NOW - 31 }))), /has expired/);
    // Within the 30 s skew it still passes.
    await expect(verify(await sign(key, claims({ iat: NOW - 300, exp: NOW - 29 })))).resolves.toBeDefined();
    await rejects(verify(await sign(key, claims({ exp: NOW + 3600 }))), /lifetime is too long/);
    await rejects(verify(await sign(key, claims({ iat: undefined, exp: NOW + 400 }))), /lifetime is too long/);
    await rejects(verify(await sign(key, claims({ iat: NOW - 200, exp: NOW + 200 }))), /lifetime is too long/);
    await expect(verify(await sign(key, claims({ exp: NOW + 3600, iat: NOW })), { maxLifetimeSeconds: 3600 })).resolves.toBeDefined();
  });

  it('[RFC7523-IAT-NBF] refuses iat or nbf in the future beyond the clock skew, and non-numeric times', async () => {
    await rejects(verify(await sign(key, claims({ iat: NOW + 60, exp: NOW + 120 }))), /issued in the future/);
    await expect(verify(await sign(key, claims({ iat: NOW + 20, exp: NOW + 120 })))).resolves.toBeDefined();
    await rejects(verify(await sign(key, claims({ nbf: NOW + 60 }))), /not yet valid/);
    await rejects(verify(await sign(key, claims({ iat: '1800000000' }))), /claim 'iat' is invalid/);
    await rejects(verify(await sign(key, claims({ exp: '1800000300' }))), /claim 'exp' is invalid/);
    await expect(verify(await sign(key, claims({ iat: NOW + 60, exp: NOW + 120 })), { clockSkewSeconds: 90 })).resolves.toBeDefined();
  });

  it('[RFC7523-JTI-REPLAY] requires a jti and never accepts the same one twice from a client; another client may use the same value', async () => {
    const store = memoryAssertionReplayStore({ now: () => NOW_MS });
    await rejects(verify(await sign(key, claims({ jti: undefined })), {}, store), /missing the 'jti' claim/);
    await rejects(verify(await sign(key, claims({ jti: '' })), {}, store), /claim 'jti' is invalid/);
    await rejects(verify(await sign(key, claims({ jti: 'x'.repeat(257) })), {}, store), /claim 'jti' is invalid/);
    const token = await sign(key, claims({ jti: 'once' }));
    await expect(verify(token, {}, store)).resolves.toMatchObject({ jti: 'once' });
    await rejects(verify(token, {}, store), /has already been used/);
    // A fresh assertion reusing the jti is a replay too.
    await rejects(verify(await sign(key, claims({ jti: 'once' })), {}, store), /has already been used/);
    const other = await sign(key, claims({ iss: 'svc-other', sub: 'svc-other', jti: 'once' }));
    await expect(verify(other, { clientId: 'svc-other' }, store)).resolves.toMatchObject({ clientId: 'svc-other' });
  });

  it('[RFC7523-JTI-REPLAY] an assertion that fails a check does not use up its jti', async () => {
    const store = memoryAssertionReplayStore({ now: () => NOW_MS });
    await rejects(verify(await sign(key, claims({ jti: 'j', aud: 'https://other.example.com' })), {}, store), /audience/);
    await rejects(verify(await sign(stranger, claims({ jti: 'j' })), {}, store), /signature/);
    await expect(verify(await sign(key, claims({ jti: 'j' })), {}, store)).resolves.toBeDefined();
  });

  it('[RFC7523-ALG-ASYMMETRIC] refuses alg none, HS256 keyed with the public key, and algorithms not allowed', async () => {
    const c = claims();
    await rejects(verify(rawJwt({ alg: 'none' }, c, '')), /malformed/);
    await rejects(verify(rawJwt({ alg: 'none' }, c)), /signing algorithm is not allowed/);
    // The classic confusion: the client's public key (PEM or JWK x) used as an HMAC secret.
    for (const secret of [key.publicPem, JSON.stringify(key.publicJwk), key.publicJwk.x!]) {
      const forged = await new SignJWT(c).setProtectedHeader({ alg: 'HS256', kid: key.kid }).sign(new TextEncoder().encode(secret));
      await rejects(verify(forged), /signing algorithm is not allowed/);
    }
    await rejects(verify(await sign(rsa, claims()), { algs: ['ES256'] }), /signing algorithm is not allowed/);
    await expect(verify(await sign(key, claims()), { algs: ['HS256'] })).rejects.toThrow(TypeError);
    await expect(verify(await sign(key, claims()), { algs: [] })).rejects.toThrow(TypeError);
  });

  it('[RFC7523-CLIENT-AUTH] refuses JWTs typed for another purpose, oversized and malformed assertions', async () => {
    for (const typ of ['at+jwt', 'dpop+jwt', 'oauth-id-jag+jwt', 'application/at+jwt']) {
      await rejects(verify(await sign(key, claims(), { header: { typ } })), /wrong type/);
    }
    for (const typ of ['JWT', 'client-authentication+jwt', 'application/jwt']) {
      await expect(verify(await sign(key, claims(), { header: { typ } }))).resolves.toBeDefined();
    }
    await rejects(verify(await sign(key, claims({ pad: 'x'.repeat(17 * 1024) }))), /too large/);
    await rejects(verify(undefined), /missing/);
    await rejects(verify(''), /missing/);
    await rejects(verify('a.b'), /malformed/);
    await rejects(verify('a.b.c'), /malformed/);
    await rejects(verify(rawJwt('not json', claims())), /malformed/);
  });

  it('[RFC7523-ERRORS] every failure is invalid_client 401 whose description repeats neither the assertion nor its claim values', async () => {
    const secretish = 'jti-value-that-must-not-leak';
    const token = await sign(key, claims({ jti: secretish, aud: 'https://evil.example/leak' }));
    const err = await rejects(verify(token), /audience/);
    expectNoEcho(err, token, [secretish, 'evil.example', CLIENT]);
    expect(err.toJSON()).toEqual({ error: 'invalid_client', error_description: err.description });
  });

  it('[RFC7523-CLIENT-AUTH] a key set with several keys and no kid in the header is tried key by key', async () => {
    const k2 = await testKey('ES256', 'es256-2');
    const keys = keySet({ ...stranger.publicJwk, kid: 'a' }, { ...k2.publicJwk, kid: 'b' });
    await expect(verify(await sign(k2, claims(), { noKid: true }), { keys })).resolves.toBeDefined();
    await rejects(verify(await sign(key, claims(), { noKid: true }), { keys }), /signature is invalid/);
  });

  it('[RFC7523-ERRORS] a key resolver failure is invalid_client; an OAuthError from it passes through', async () => {
    await rejects(verify(await sign(key, claims()), { keys: async () => { throw new Error('ECONNREFUSED 10.0.0.1'); } }), /could not be verified/);
    const unavailable = new OAuthError('temporarily_unavailable', 'client keys unavailable', 503, { retryAfter: 5 });
    await expectOAuthError(verify(await sign(key, claims()), { keys: async () => { throw unavailable; } }), 'temporarily_unavailable', 503, /unavailable/);
  });

  it('assertionClientId reads the claimed client from sub without trusting it, and nothing from garbage', async () => {
    expect(assertionClientId(await sign(key, claims()))).toBe(CLIENT);
    expect(assertionClientId(await sign(key, claims({ sub: 7 })))).toBeUndefined();
    expect(assertionClientId('x.y.z')).toBeUndefined();
    expect(assertionClientId(42)).toBeUndefined();
  });

  it('[RFC7523-ERRORS] seeded fuzz: 600 mutations of a valid assertion only ever fail with OAuthError, and never pass', async () => {
    const valid = await sign(key, claims({ jti: 'fuzz' }), { header: { typ: 'JWT' } });
    await fuzzOnlyOAuthErrors(valid, (t) => verify(t), 7523);
  });
});
