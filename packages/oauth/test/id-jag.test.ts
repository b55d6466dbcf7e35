import { beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { ID_JAG_TYP, isIdJag, memoryAssertionReplayStore, verifyIdJag, type IdJagOptions, type TrustedIdp } from '../src/index.ts';
import { expectNoEcho, expectOAuthError, keySet, fuzzOnlyOAuthErrors, NOW, NOW_MS, rawJwt, sign, testKey, type TestKey } from './jwt-fixtures.ts';

const IDP = 'https://acme.idp.example';
const OTHER_IDP = 'https://other.idp.example';
const AS = 'http://127.0.0.1:4000';
const CLIENT = 'mcp-client-1';
const RESOURCE = 'http://127.0.0.1:4999/mcp';
const RESOURCE_2 = 'http://127.0.0.1:4999/mcp/files';

let idpKey: TestKey;
let otherKey: TestKey;
let base: IdJagOptions;

beforeAll(async () => {
  [idpKey, otherKey] = await Promise.all([testKey('ES256', 'idp-1'), testKey('RS256', 'other-1')]);
  base = {
    trustedIssuers: new Map<string, TrustedIdp>([
      [IDP, { keys: keySet(idpKey) }],
      [OTHER_IDP, { keys: keySet(otherKey), allowedClients: ['someone-else'], algs: ['RS256'] }],
    ]),
    ourIssuer: AS,
    clientId: CLIENT,
    resources: [RESOURCE, RESOURCE_2],
    now: NOW_MS,
  };
});

let n = 0;
const claims = (over: Record<string, unknown> = {}) => ({
  iss: IDP, sub: 'U019488227', aud: AS, client_id: CLIENT, resource: RESOURCE, scope: 'db:read db:write',
  email: 'ada@acme.example', iat: NOW, exp: NOW + 300, jti: `jag-${++n}`, ...over,
});
const jag = (over: Record<string, unknown> = {}, key = idpKey, header: Record<string, unknown> = { typ: ID_JAG_TYP }) => sign(key, claims(over), { header });
const verify = (token: unknown, over: Partial<IdJagOptions> = {}, store = memoryAssertionReplayStore({ now: () => NOW_MS })) =>
  verifyIdJag(token, { ...base, ...over }, store);
const rejects = (p: Promise<unknown>, d: RegExp) => expectOAuthError(p, 'invalid_grant', 400, d);

describe('verifyIdJag (enterprise-managed authorization)', () => {
  it('[EMA-IDJAG-VALID] accepts an ID-JAG from a trusted IdP for the authenticated client and returns what the caller maps to a role', async () => {
    const out = await verify(await jag());
    expect(out).toMatchObject({ issuer: IDP, subject: 'U019488227', clientId: CLIENT, resources: [RESOURCE], resource: RESOURCE, scope: 'db:read db:write', expiresAt: NOW + 300 });
    expect(out.claims.email).toBe('ada@acme.example');
  });

  it('[EMA-IDJAG-VALID] accepts the token the conformance IdP issues (no kid, aud with or without "/", no scope)', async () => {
    for (const aud of [AS, `${AS}/`]) {
      const token = await sign(idpKey, claims({ aud, scope: undefined, email: undefined }), { header: { typ: ID_JAG_TYP }, noKid: true });
      await expect(verify(token)).resolves.toMatchObject({ scope: undefined, resource: RESOURCE });
    }
  });

  it('[EMA-IDJAG-TYP] requires the typ header oauth-id-jag+jwt (its media-type form too)', async () => {
    await expect(verify(await jag({}, idpKey, { typ: 'application/oauth-id-jag+jwt' }))).resolves.toBeDefined();
    for (const header of [{}, { typ: 'JWT' }, { typ: 'at+jwt' }, { typ: 'id-jag+jwt' }, { typ: 7 }]) {
      await rejects(verify(await jag({}, idpKey, header)), /wrong type/);
    }
  });

  it('[EMA-IDJAG-TYP] isIdJag tells an ID-JAG from other jwt-bearer assertions by its typ header alone', async () => {
    expect(isIdJag(await jag())).toBe(true);
    expect(isIdJag(await jag({}, idpKey, { typ: 'application/oauth-id-jag+jwt' }))).toBe(true);
    expect(isIdJag(await jag({}, idpKey, { typ: 'JWT' }))).toBe(false);
    expect(isIdJag(await jag({}, idpKey, {}))).toBe(false);
    expect(isIdJag('x.y.z')).toBe(false);
    expect(isIdJag(undefined)).toBe(false);
  });

  it('[EMA-IDJAG-ISSUER] refuses an untrusted or missing issuer, and a token signed by another key than the issuer\'s', async () => {
    await rejects(verify(await jag({ iss: 'https://evil.idp.example' })), /issuer is not trusted/);
    await rejects(verify(await jag({ iss: undefined })), /missing the 'iss' claim/);
    await rejects(verify(await jag({ iss: `${IDP}/` })), /issuer is not trusted/);
    // Claims to be the trusted IdP, signed with another IdP's key.
    await rejects(verify(await jag({}, otherKey)), /signature is invalid|signing key is unknown|algorithm/);
    const forged = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', typ: ID_JAG_TYP, kid: idpKey.kid }).sign(new TextEncoder().encode(idpKey.publicPem));
    await rejects(verify(forged), /signing algorithm is not allowed/);
    await rejects(verify(rawJwt({ alg: 'none', typ: ID_JAG_TYP }, claims())), /signing algorithm is not allowed/);
  });

  it('[EMA-IDJAG-AUD] requires aud to be our issuer only', async () => {
    await rejects(verify(await jag({ aud: 'https://chat.example' })), /audience is not this authorization server/);
    await rejects(verify(await jag({ aud: `${AS}/token` })), /audience is not this authorization server/);
    await rejects(verify(await jag({ aud: [AS, 'https://chat.example'] })), /audience names another party/);
    await rejects(verify(await jag({ aud: undefined })), /missing the 'aud' claim/);
    await expect(verify(await jag({ aud: [AS] }))).resolves.toBeDefined();
  });

  it('[EMA-IDJAG-CLIENT] requires client_id to be the authenticated client, and one the IdP may speak for', async () => {
    await rejects(verify(await jag({ client_id: 'another-client' })), /client_id is not the authenticated client/);
    await rejects(verify(await jag({ client_id: undefined })), /missing the 'client_id' claim/);
    await rejects(verify(await jag({ client_id: 42 })), /claim 'client_id' is invalid/);
    const fromOther = await sign(otherKey, claims({ iss: OTHER_IDP }), { header: { typ: ID_JAG_TYP } });
    await rejects(verify(fromOther), /issuer may not grant access to this client/);
    await rejects(verify(fromOther, { clientId: 'someone-else' }), /client_id is not the authenticated client/);
    const forSomeoneElse = await sign(otherKey, claims({ iss: OTHER_IDP, client_id: 'someone-else' }), { header: { typ: ID_JAG_TYP } });
    await expect(verify(forSomeoneElse, { clientId: 'someone-else' })).resolves.toMatchObject({ issuer: OTHER_IDP });
  });

  it('[EMA-IDJAG-RESOURCE] a resource we do not serve is invalid_target; an array of ours is accepted; an absent one is left to the caller', async () => {
    const e = await expectOAuthError(verify(await jag({ resource: 'https://mcp.elsewhere.example/mcp' })), 'invalid_target', 400, /resource is not served/);
    expect(e.description).not.toContain('elsewhere');
    await expectOAuthError(verify(await jag({ resource: [RESOURCE, 'https://x.example'] })), 'invalid_target', 400, /resource is not served/);
    await expect(verify(await jag({ resource: [RESOURCE, RESOURCE_2] }))).resolves.toMatchObject({ resources: [RESOURCE, RESOURCE_2], resource: undefined });
    // Same resource up to scheme/host case and a trailing slash: the configured form comes back.
    await expect(verify(await jag({ resource: 'HTTP://127.0.0.1:4999/mcp/' }))).resolves.toMatchObject({ resource: RESOURCE });
    await expect(verify(await jag({ resource: undefined }))).resolves.toMatchObject({ resources: [], resource: undefined });
    await rejects(verify(await jag({ resource: [] })), /claim 'resource' is invalid/);
    await rejects(verify(await jag({ resource: 5 })), /claim 'resource' is invalid/);
  });

  it('[EMA-IDJAG-CLAIMS] requires sub, iat and a short exp, and checks the time window with skew', async () => {
    await rejects(verify(await jag({ sub: undefined })), /missing the 'sub' claim/);
    await rejects(verify(await jag({ sub: '' })), /claim 'sub' is invalid/);
    await rejects(verify(await jag({ iat: undefined })), /missing the 'iat' claim/);
    await rejects(verify(await jag({ exp: undefined })), /missing the 'exp' claim/);
    await rejects(verify(await jag({ iat: NOW - 400, exp: NOW - 100 })), /has expired/);
    await rejects(verify(await jag({ exp: NOW + 3600 })), /lifetime is too long/);
    await rejects(verify(await jag({ iat: NOW + 120, exp: NOW + 300 })), /issued in the future/);
    await rejects(verify(await jag({ nbf: NOW + 120 })), /not yet valid/);
    await expect(verify(await jag({ exp: NOW + 3600 }), { maxLifetimeSeconds: 3600 })).resolves.toBeDefined();
  });

  it('[EMA-IDJAG-REPLAY] requires a jti and never accepts the same one twice from an issuer', async () => {
    const store = memoryAssertionReplayStore({ now: () => NOW_MS });
    await rejects(verify(await jag({ jti: undefined }), {}, store), /missing the 'jti' claim/);
    const token = await jag({ jti: 'one-time' });
    await expect(verify(token, {}, store)).resolves.toBeDefined();
    await rejects(verify(token, {}, store), /has already been used/);
    // The same jti from another issuer is another grant.
    const other = await sign(otherKey, claims({ iss: OTHER_IDP, client_id: 'someone-else', jti: 'one-time' }), { header: { typ: ID_JAG_TYP } });
    await expect(verify(other, { clientId: 'someone-else' }, store)).resolves.toBeDefined();
  });

  it('[EMA-IDJAG-SCOPE] returns the scope claim for the caller to intersect, and refuses one that is not RFC 6749 scope syntax', async () => {
    await expect(verify(await jag({ scope: 'a b' }))).resolves.toMatchObject({ scope: 'a b' });
    for (const scope of ['', 'a  b', ' a', 'a"b', 42, ['a'], 'x'.repeat(3000)]) await rejects(verify(await jag({ scope })), /claim 'scope' is invalid/);
  });

  it('[RFC7523-ERRORS] failures are invalid_grant 400 naming the check, never the token or claim values; oversized and malformed tokens too', async () => {
    const token = await jag({ client_id: 'leaky-client-name', sub: 'leaky-subject' });
    const err = await rejects(verify(token), /client_id/);
    expectNoEcho(err, token, ['leaky-client-name', 'leaky-subject', IDP]);
    await rejects(verify(await jag({ pad: 'x'.repeat(17 * 1024) })), /too large/);
    await rejects(verify(undefined), /missing/);
    await rejects(verify('x.y.z'), /malformed/);
    await rejects(verify(rawJwt({ alg: 'ES256', typ: ID_JAG_TYP }, '[1,2]')), /malformed/);
  });

  it('[RFC7523-ERRORS] seeded fuzz: 600 mutations of a valid ID-JAG only ever fail with OAuthError, and never pass', async () => {
    const valid = await jag({ jti: 'fuzz' });
    await fuzzOnlyOAuthErrors(valid, (t) => verify(t), 990);
  });
});
