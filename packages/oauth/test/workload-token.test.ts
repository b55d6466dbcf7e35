import { beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { memoryAssertionReplayStore, verifyWorkloadToken, type TrustedWorkloadIssuer, type WorkloadTokenOptions } from '../src/index.ts';
import { expectNoEcho, expectOAuthError, keySet, fuzzOnlyOAuthErrors, NOW, NOW_MS, rawJwt, sign, testKey, type TestKey } from './jwt-fixtures.ts';

const K8S = 'https://kubernetes.default.svc.cluster.local';
const CI = 'https://token.actions.githubusercontent.com';
const CONFORMANCE = 'https://idp.conformance-test.local';
const AS = 'http://127.0.0.1:4000';
const TOKEN_ENDPOINT = `${AS}/token`;

let k8sKey: TestKey;
let ciKey: TestKey;
let confKey: TestKey;
let base: WorkloadTokenOptions;

beforeAll(async () => {
  [k8sKey, ciKey, confKey] = await Promise.all([testKey('RS256', 'k8s-1'), testKey('RS256', 'ci-1'), testKey('ES256', 'conf-1')]);
  base = {
    trustedIssuers: new Map<string, TrustedWorkloadIssuer>([
      [K8S, { keys: keySet(k8sKey), audience: [TOKEN_ENDPOINT, AS], subjectPattern: /system:serviceaccount:ci:[a-z0-9-]+/, algs: ['RS256'] }],
      [CI, { keys: keySet(ciKey), audience: TOKEN_ENDPOINT, jti: 'optional' }],
      [CONFORMANCE, { keys: keySet(confKey), audience: [AS, TOKEN_ENDPOINT] }],
    ]),
    now: NOW_MS,
  };
});

let n = 0;
const k8sClaims = (over: Record<string, unknown> = {}) => ({
  iss: K8S, sub: 'system:serviceaccount:ci:deployer', aud: [TOKEN_ENDPOINT, 'https://kubernetes.default.svc'],
  iat: NOW, nbf: NOW, exp: NOW + 3600, jti: `k8s-${++n}`, 'kubernetes.io': { namespace: 'ci', serviceaccount: { name: 'deployer' } }, ...over,
});
const verify = (token: unknown, over: Partial<WorkloadTokenOptions> = {}, store?: ReturnType<typeof memoryAssertionReplayStore>) =>
  verifyWorkloadToken(token, { ...base, ...over }, store);
const rejects = (p: Promise<unknown>, d: RegExp) => expectOAuthError(p, 'invalid_grant', 400, d);

describe('verifyWorkloadToken (workload identity federation)', () => {
  it('[WIF-TRUSTED-ISSUER] accepts a Kubernetes service-account token from a trusted issuer and returns its issuer, subject and claims', async () => {
    const out = await verify(await sign(k8sKey, k8sClaims()));
    expect(out).toMatchObject({ issuer: K8S, subject: 'system:serviceaccount:ci:deployer', expiresAt: NOW + 3600 });
    expect(out.claims['kubernetes.io']).toEqual({ namespace: 'ci', serviceaccount: { name: 'deployer' } });
  });

  it('[WIF-TRUSTED-ISSUER] accepts the conformance scenario\'s token: ES256, no typ, no kid, aud = the issuer URL without "/"', async () => {
    const token = await sign(confKey, { iss: CONFORMANCE, sub: 'conformance-workload', aud: AS, iat: NOW, exp: NOW + 300, jti: 'c-1' }, { noKid: true });
    await expect(verify(token)).resolves.toMatchObject({ issuer: CONFORMANCE, subject: 'conformance-workload', jti: 'c-1' });
  });

  it('[WIF-TRUSTED-ISSUER] refuses an untrusted issuer, a token signed with another issuer\'s key, and symmetric or none algorithms', async () => {
    await rejects(verify(await sign(k8sKey, k8sClaims({ iss: 'https://evil.example' }))), /issuer is not trusted/);
    await rejects(verify(await sign(k8sKey, k8sClaims({ iss: undefined }))), /missing the 'iss' claim/);
    await rejects(verify(await sign(ciKey, k8sClaims())), /signing key is unknown|signature is invalid/);
    const forged = await new SignJWT(k8sClaims()).setProtectedHeader({ alg: 'HS256', kid: k8sKey.kid }).sign(new TextEncoder().encode(k8sKey.publicPem));
    await rejects(verify(forged), /signing algorithm is not allowed/);
    await rejects(verify(rawJwt({ alg: 'none' }, k8sClaims())), /signing algorithm is not allowed/);
    await rejects(verify(await sign(confKey, { ...k8sClaims(), iss: K8S }, { header: { kid: k8sKey.kid } })), /signing algorithm is not allowed/);
  });

  it('[WIF-AUD] requires aud to name our token endpoint or issuer (other audiences may ride along)', async () => {
    await rejects(verify(await sign(k8sKey, k8sClaims({ aud: 'https://wrong.example' }))), /audience is not this authorization server/);
    await rejects(verify(await sign(k8sKey, k8sClaims({ aud: undefined }))), /missing the 'aud' claim/);
    await expect(verify(await sign(k8sKey, k8sClaims({ aud: `${AS}/` })))).resolves.toBeDefined();
    // The CI issuer is configured for the token endpoint only.
    await rejects(verify(await sign(ciKey, { iss: CI, sub: 'repo:acme/app:ref:refs/heads/main', aud: AS, iat: NOW, exp: NOW + 300 })), /audience is not this authorization server/);
  });

  it('[WIF-SUBJECT] requires sub and, when configured, a whole match of the subject pattern', async () => {
    await rejects(verify(await sign(k8sKey, k8sClaims({ sub: undefined }))), /missing the 'sub' claim/);
    await rejects(verify(await sign(k8sKey, k8sClaims({ sub: 'system:serviceaccount:prod:deployer' }))), /subject is not accepted/);
    await rejects(verify(await sign(k8sKey, k8sClaims({ sub: 'x-system:serviceaccount:ci:deployer' }))), /subject is not accepted/);
    await rejects(verify(await sign(k8sKey, k8sClaims({ sub: 'system:serviceaccount:ci:deployer:extra' }))), /subject is not accepted/);
    const global: TrustedWorkloadIssuer = { keys: keySet(k8sKey), audience: TOKEN_ENDPOINT, subjectPattern: /system:serviceaccount:ci:[a-z-]+/g };
    const issuers = new Map([[K8S, global]]);
    for (let i = 0; i < 3; i++) await expect(verify(await sign(k8sKey, k8sClaims()), { trustedIssuers: issuers })).resolves.toBeDefined();
  });

  it('[WIF-CLAIMS] requires iat and a bounded exp, and refuses expired tokens and ones issued in the future', async () => {
    await rejects(verify(await sign(k8sKey, k8sClaims({ iat: undefined }))), /missing the 'iat' claim/);
    await rejects(verify(await sign(k8sKey, k8sClaims({ exp: undefined }))), /missing the 'exp' claim/);
    await rejects(verify(await sign(k8sKey, k8sClaims({ iat: NOW - 4000, nbf: NOW - 4000, exp: NOW - 60 }))), /has expired/);
    await rejects(verify(await sign(k8sKey, k8sClaims({ exp: NOW + 48 * 3600 }))), /lifetime is too long/);
    await rejects(verify(await sign(k8sKey, k8sClaims({ iat: NOW + 600, nbf: undefined }))), /issued in the future/);
  });

  it('[WIF-REPLAY] requires a jti (unless the issuer is configured without) and, with a replay store, accepts it once', async () => {
    await rejects(verify(await sign(k8sKey, k8sClaims({ jti: undefined }))), /missing the 'jti' claim/);
    const ci = await sign(ciKey, { iss: CI, sub: 'repo:acme/app:ref:refs/heads/main', aud: TOKEN_ENDPOINT, iat: NOW, exp: NOW + 300 }, { header: { typ: 'JWT' } });
    await expect(verify(ci)).resolves.toMatchObject({ issuer: CI, jti: undefined });
    const store = memoryAssertionReplayStore({ now: () => NOW_MS });
    const token = await sign(k8sKey, k8sClaims({ jti: 'w-1' }));
    await expect(verify(token, {}, store)).resolves.toBeDefined();
    await rejects(verify(token, {}, store), /has already been used/);
  });

  it('[WIF-TRUSTED-ISSUER] refuses JWTs typed for another purpose, oversized and malformed tokens', async () => {
    for (const typ of ['at+jwt', 'oauth-id-jag+jwt', 'dpop+jwt']) await rejects(verify(await sign(k8sKey, k8sClaims(), { header: { typ } })), /wrong type/);
    await rejects(verify(await sign(k8sKey, k8sClaims({ pad: 'x'.repeat(17 * 1024) }))), /too large/);
    await rejects(verify(null), /missing/);
    await rejects(verify('e30.e30.e30'), /missing the 'iss' claim/);
    await rejects(verify('!!.e30.e30'), /malformed/);
  });

  it('[RFC7523-ERRORS] descriptions never repeat the token or its claim values', async () => {
    const token = await sign(k8sKey, k8sClaims({ sub: 'system:serviceaccount:prod:secret-name' }));
    const err = await rejects(verify(token), /subject/);
    expectNoEcho(err, token, ['secret-name', 'prod', K8S]);
  });

  it('[RFC7523-ERRORS] seeded fuzz: 600 mutations of a valid workload token only ever fail with OAuthError, and never pass', async () => {
    const valid = await sign(k8sKey, k8sClaims({ jti: 'fuzz' }));
    await fuzzOnlyOAuthErrors(valid, (t) => verify(t), 1933);
  });
});
