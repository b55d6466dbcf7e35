import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { exportSPKI, SignJWT } from 'jose';
import { OAuthError } from '@stack/oauth';
import { createJwtVerifier, createRevocationPoller, createStaticRevocationList, type JwtVerifierOptions } from '../src/index.ts';
import { b64url, FakeAuthServer, ISSUER, makeKey, mint, RESOURCE, type SigningKey } from './helpers.ts';

let as: FakeAuthServer;
let key: SigningKey;
let key2: SigningKey;
let clock: number;
const now = () => clock;

// RSA key generation is the slow part of this file: once per file.
beforeAll(async () => {
  [key, key2] = await Promise.all([makeKey('key-1'), makeKey('key-2')]);
});

beforeEach(async () => {
  as = await new FakeAuthServer().start();
  as.keys = [key.jwk];
  clock = Date.now();
});
afterEach(() => as.stop());

function verifier(o: Partial<JwtVerifierOptions> = {}) {
  return createJwtVerifier({ issuer: ISSUER, audience: RESOURCE, jwksUrl: `${as.url}/jwks`, now, ...o });
}

/** Asserts an invalid_token OAuthError (401) whose description matches and never contains the token. */
async function expectInvalid(p: Promise<unknown>, description: string | RegExp, token?: string) {
  const err = await p.then(
    () => expect.unreachable('verification should have failed'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OAuthError);
  const o = err as OAuthError;
  expect(o.code).toBe('invalid_token');
  expect(o.status).toBe(401);
  if (typeof description === 'string') expect(o.description).toBe(description);
  else expect(o.description).toMatch(description);
  expect(o.description).toBe(o.description.toLowerCase());
  if (token) {
    expect(o.description).not.toContain(token);
    expect(o.message).not.toContain(token.split('.')[2]);
  }
}

describe('createJwtVerifier', () => {
  it('[MCP-RS-TOKEN-VALIDATION] accepts a valid RS256 at+jwt access token and returns the identity', async () => {
    const token = await mint(key, { nowMs: clock, claims: { jti: 'jti-1' } });
    const id = await verifier().verify(token);
    expect(id).toEqual({
      kind: 'user',
      subject: 'user-1',
      role: 'developer',
      scopes: ['db:read', 'db:write'],
      clientId: 'client-1',
      tokenId: 'jti-1',
    });
    expect(Object.isFrozen(id) && Object.isFrozen(id.scopes)).toBe(true);
  });

  it('[EXT-CC-MCP-ACCEPTS] a token whose sub is its client_id (client_credentials, RFC 9068 §2.2) is a client identity with its role', async () => {
    const token = await mint(key, { nowMs: clock, claims: { sub: 'machine-1', client_id: 'machine-1', role: 'viewer', scope: 'db:read' } });
    await expect(verifier().verify(token)).resolves.toMatchObject({ kind: 'client', subject: 'machine-1', clientId: 'machine-1', role: 'viewer', scopes: ['db:read'] });
  });

  it('[EMA-MCP-ACCEPTS] a jwt-bearer token for a federated subject (sub = <issuer>|<sub>) is a user identity with its mapped role', async () => {
    const sub = 'https://idp.example.com|00u1abc@example.com';
    const token = await mint(key, { nowMs: clock, claims: { sub, client_id: 'agent-app', role: 'developer', scope: 'db:read' } });
    await expect(verifier().verify(token)).resolves.toMatchObject({ kind: 'user', subject: sub, clientId: 'agent-app', role: 'developer', scopes: ['db:read'] });
  });

  it('[RFC9068-JWT-AT] accepts typ application/at+jwt (RFC 9068 §2.1)', async () => {
    const token = await mint(key, { nowMs: clock, header: { typ: 'application/at+jwt' } });
    await expect(verifier().verify(token)).resolves.toMatchObject({ subject: 'user-1' });
  });

  it('caps the token scopes by ROLE_SCOPES[role] (defence in depth)', async () => {
    const token = await mint(key, { nowMs: clock, claims: { role: 'viewer', scope: 'db:admin db:write db:read other' } });
    await expect(verifier().verify(token)).resolves.toMatchObject({ role: 'viewer', scopes: ['db:read'] });
  });

  it('[MCP-RS-TOKEN-VALIDATION] rejects an expired token, allowing the clock skew', async () => {
    const token = await mint(key, { nowMs: clock - 400_000 }); // exp = clock - 100 s
    await expectInvalid(verifier().verify(token), 'token has expired', token);
    const justExpired = await mint(key, { nowMs: clock - 310_000 }); // exp = clock - 10 s, inside 30 s skew
    await expect(verifier().verify(justExpired)).resolves.toBeTruthy();
    await expectInvalid(verifier({ clockToleranceSec: 0 }).verify(justExpired), 'token has expired');
  });

  it('[MCP-RS-TOKEN-VALIDATION] rejects a token that is not yet valid (nbf) or issued in the future (iat)', async () => {
    const nbf = Math.floor(clock / 1000) + 120;
    const early = await mint(key, { nowMs: clock, claims: { nbf } });
    await expectInvalid(verifier().verify(early), 'token is not yet valid', early);
    const future = await mint(key, { nowMs: clock + 120_000 });
    await expectInvalid(verifier().verify(future), 'token was issued in the future');
    clock += 121_000;
    await expect(verifier().verify(early)).resolves.toBeTruthy();
  });

  it('[MCP-RS-TOKEN-VALIDATION] rejects a token from another issuer', async () => {
    const token = await mint(key, { nowMs: clock, claims: { iss: 'http://127.0.0.1:4999' } });
    await expectInvalid(verifier().verify(token), 'token issuer is not accepted', token);
  });

  it('[MCP-RS-AUDIENCE] rejects a token issued for another resource (RFC 8707)', async () => {
    const other = await mint(key, { nowMs: clock, claims: { aud: 'http://127.0.0.1:4002/mcp' } });
    await expectInvalid(verifier().verify(other), 'token audience is not this resource', other);
    const prefix = await mint(key, { nowMs: clock, claims: { aud: `${RESOURCE}/other` } });
    await expectInvalid(verifier().verify(prefix), 'token audience is not this resource');
    const none = await mint(key, { nowMs: clock, claims: { aud: undefined } });
    await expectInvalid(verifier().verify(none), "token is missing required claim 'aud'");
  });

  it('[MCP-RS-AUDIENCE] rejects an aud array without this resource and accepts one that contains it', async () => {
    const without = await mint(key, { nowMs: clock, claims: { aud: ['http://a.example/mcp', 'http://b.example/mcp'] } });
    await expectInvalid(verifier().verify(without), 'token audience is not this resource');
    const withUs = await mint(key, { nowMs: clock, claims: { aud: ['http://a.example/mcp', RESOURCE] } });
    await expect(verifier().verify(withUs)).resolves.toMatchObject({ subject: 'user-1' });
  });

  it('[MCP-RS-TOKEN-VALIDATION] rejects alg none (hand-built unsigned JWT)', async () => {
    const iat = Math.floor(clock / 1000);
    const claims = { iss: ISSUER, aud: RESOURCE, sub: 'admin', client_id: 'c', jti: 'j', scope: 'db:admin', role: 'admin', iat, exp: iat + 300 };
    const unsigned = `${b64url({ alg: 'none', typ: 'at+jwt', kid: 'key-1' })}.${b64url(claims)}.`;
    await expectInvalid(verifier().verify(unsigned), 'token signing algorithm is not allowed');
    const noneWithSig = `${b64url({ alg: 'none', typ: 'at+jwt' })}.${b64url(claims)}.AAAA`;
    await expectInvalid(verifier().verify(noneWithSig), 'token signing algorithm is not allowed');
  });

  it('[MCP-RS-TOKEN-VALIDATION] rejects HS256 signed with the RSA public key bytes (key confusion)', async () => {
    const pem = await exportSPKI(key.publicKey);
    const iat = Math.floor(clock / 1000);
    for (const secret of [new TextEncoder().encode(pem), new TextEncoder().encode(JSON.stringify(key.jwk))]) {
      const forged = await new SignJWT({ client_id: 'c', scope: 'db:admin', role: 'admin' })
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: 'key-1' })
        .setIssuer(ISSUER)
        .setAudience(RESOURCE)
        .setSubject('attacker')
        .setJti('j')
        .setIssuedAt(iat)
        .setExpirationTime(iat + 300)
        .sign(secret);
      await expectInvalid(verifier().verify(forged), 'token signing algorithm is not allowed', forged);
    }
  });

  it('[MCP-RS-TOKEN-VALIDATION] rejects a token whose signature does not match', async () => {
    const token = await mint(key, { nowMs: clock });
    const [h, p] = token.split('.');
    const other = await mint(key, { nowMs: clock, claims: { role: 'admin' } });
    const spliced = `${h}.${other.split('.')[1]}.${token.split('.')[2]}`;
    await expectInvalid(verifier().verify(spliced), 'token signature is invalid');
    await expectInvalid(verifier().verify(`${h}.${p}`), 'token is malformed');
    await expectInvalid(verifier().verify('not a jwt'), 'token is malformed');
    await expectInvalid(verifier().verify('a'.repeat(10_000)), 'token is malformed');
  });

  it('[MCP-RS-TOKEN-VALIDATION] [HARD-JWKS-UNKNOWN-KID] an unknown kid triggers one refetch per floor; a key added later is picked up after it', async () => {
    const v = verifier({ jwksCooldownMs: 30_000, jwksUnknownKidFloorMs: 2_000 });
    await v.verify(await mint(key, { nowMs: clock }));
    expect(as.jwksRequests).toBe(1);

    const t2 = await mint(key2, { nowMs: clock });
    clock += 2_001; // past the floor of the first fetch (far inside the cooldown)
    await expectInvalid(v.verify(t2), 'token signing key is unknown', t2);
    expect(as.jwksRequests).toBe(2); // one refetch for the unknown kid
    await expectInvalid(v.verify(t2), 'token signing key is unknown');
    await expectInvalid(v.verify(await mint(key2, { nowMs: clock, claims: { jti: 'other' } })), 'token signing key is unknown');
    expect(as.jwksRequests).toBe(2); // within the floor: no more fetches

    as.keys = [key.jwk, key2.jwk]; // the auth server rotates in a new key
    await expectInvalid(v.verify(t2), 'token signing key is unknown');
    expect(as.jwksRequests).toBe(2);
    clock += 2_001;
    await expect(v.verify(t2)).resolves.toMatchObject({ subject: 'user-1' });
    expect(as.jwksRequests).toBe(3);
  });

  it('[HARD-JWKS-UNKNOWN-KID] [HARD-KEY-PREPUBLISH] a warm verifier accepts a token signed with a newly published key at once, not after the 30 s cooldown', async () => {
    const v = verifier(); // defaults: 30 s cooldown, 1 s unknown-kid floor
    await v.verify(await mint(key, { nowMs: clock }));
    expect(as.jwksRequests).toBe(1);
    as.keys = [key.jwk, key2.jwk]; // rotation publishes the next key
    clock += 1_500; // moments later, far inside the cooldown
    await expect(v.verify(await mint(key2, { nowMs: clock }))).resolves.toMatchObject({ subject: 'user-1' });
    expect(as.jwksRequests).toBe(2);
  });

  it('[HARD-JWKS-UNKNOWN-KID] tokens with made-up kids cost at most one JWKS fetch per floor window, concurrent ones sharing it', async () => {
    const v = verifier({ jwksUnknownKidFloorMs: 1_000 });
    await v.verify(await mint(key, { nowMs: clock }));
    const forged = (i: number) => mint({ ...key2, kid: `random-${i}` }, { nowMs: clock, claims: { jti: `f${i}` } });
    for (let window = 1; window <= 3; window++) {
      clock += 1_001;
      const before = as.jwksRequests;
      // 50 at once, then 50 one after another, all inside one floor window.
      const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => forged(window * 1000 + i)));
      const burst = await Promise.allSettled(tokens.map((t) => v.verify(t)));
      expect(burst.every((r) => r.status === 'rejected')).toBe(true);
      for (let i = 0; i < 50; i++) await expectInvalid(v.verify(await forged(window * 1000 + 500 + i)), 'token signing key is unknown');
      expect(as.jwksRequests - before).toBe(1);
    }
    // The real key still verifies throughout.
    await expect(v.verify(await mint(key, { nowMs: clock, claims: { jti: 'real' } }))).resolves.toMatchObject({ tokenId: 'real' });
  });

  it("[MCP-RS-TOKEN-VALIDATION] rejects a token without a 'kid'", async () => {
    const token = await mint(key, { nowMs: clock, header: { kid: undefined } });
    await expectInvalid(verifier().verify(token), "token header is missing 'kid'");
  });

  it('[RFC9068-JWT-AT] rejects typ JWT and a missing typ', async () => {
    const jwt = await mint(key, { nowMs: clock, header: { typ: 'JWT' } });
    await expectInvalid(verifier().verify(jwt), "token type must be 'at+jwt'", jwt);
    const missing = await mint(key, { nowMs: clock, header: { typ: undefined } });
    await expectInvalid(verifier().verify(missing), "token type must be 'at+jwt'");
  });

  it('[RFC9068-JWT-AT] rejects tokens missing a required claim or carrying an invalid one', async () => {
    const v = verifier();
    for (const claim of ['sub', 'client_id', 'jti', 'scope', 'role', 'exp', 'iat', 'iss']) {
      const token = await mint(key, { nowMs: clock, claims: { [claim]: undefined } });
      await expectInvalid(v.verify(token), `token is missing required claim '${claim}'`);
    }
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ role: 'Super User' }, "token claim 'role' is invalid"],
      [{ role: 'superuser' }, "token has role 'superuser', which this server does not declare"],
      [{ scope: ['db:read'] }, "token claim 'scope' is invalid"],
      [{ scope: 'db:read "x' }, "token claim 'scope' is invalid"],
      [{ sub: '' }, "token claim 'sub' is invalid"],
      [{ client_id: 42 }, "token claim 'client_id' is invalid"],
      [{ exp: 'tomorrow' }, "token claim 'exp' is invalid"],
    ];
    for (const [claims, description] of cases) {
      await expectInvalid(v.verify(await mint(key, { nowMs: clock, claims })), description);
    }
  });

  it('[MCP-RS-TOKEN-VALIDATION] rejects a revoked jti, also when the token was cached', async () => {
    const v = verifier({ revocations: createStaticRevocationList(['revoked-1']) });
    const token = await mint(key, { nowMs: clock, claims: { jti: 'revoked-1' } });
    await expectInvalid(v.verify(token), 'token has been revoked', token);
  });

  it('[MCP-RS-TOKEN-VALIDATION] rejects a jti revoked through the polled revocation feed', async () => {
    const poller = createRevocationPoller({ url: `${as.url}/revocations`, intervalMs: 60_000, now });
    const v = verifier({ revocations: poller });
    const token = await mint(key, { nowMs: clock, claims: { jti: 'jti-feed' } });
    await poller.refresh();
    await expect(v.verify(token)).resolves.toMatchObject({ tokenId: 'jti-feed' }); // now cached
    as.revoked.push({ jti: 'jti-feed', expiresAt: clock + 300_000, revokedAt: clock });
    await poller.refresh();
    await expectInvalid(v.verify(token), 'token has been revoked', token);
    await expect(v.verify(await mint(key, { nowMs: clock }))).resolves.toBeTruthy();
  });

  it('keeps verifying with the cached keys while the JWKS server is down', async () => {
    const errors: unknown[] = [];
    const v = verifier({ jwksMaxAgeMs: 60_000, onJwksError: (e) => errors.push(e) });
    await v.verify(await mint(key, { nowMs: clock }));
    await as.stop();
    clock += 10 * 60_000; // the set is now stale: a background refresh is attempted and fails
    const fresh = await mint(key, { nowMs: clock }); // not in the token cache, needs the key
    await expect(v.verify(fresh)).resolves.toMatchObject({ subject: 'user-1' });
    await new Promise((r) => setTimeout(r, 50));
    expect(errors.length).toBe(1);
    await expect(v.verify(await mint(key, { nowMs: clock, claims: { jti: 'x' } }))).resolves.toBeTruthy();
    const unknown = await mint({ ...key2, kid: 'key-9' }, { nowMs: clock });
    clock += 31_000;
    await expectInvalid(v.verify(unknown), 'token signing key is unknown');
  });

  it('answers invalid_token when no key set could ever be fetched', async () => {
    const token = await mint(key, { nowMs: clock });
    await as.stop();
    await expectInvalid(verifier().verify(token), 'token signing keys are unavailable', token);
  });

  it('concurrent first requests share one JWKS fetch', async () => {
    const v = verifier();
    const tokens = await Promise.all([1, 2, 3, 4, 5].map((i) => mint(key, { nowMs: clock, claims: { jti: `c${i}` } })));
    const ids = await Promise.all(tokens.map((t) => v.verify(t)));
    expect(ids.map((i) => i.tokenId)).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
    expect(as.jwksRequests).toBe(1);
  });

  it('retries a first JWKS fetch that failed after a short pause, not the full cooldown', async () => {
    let calls = 0;
    const flaky: typeof fetch = async (input, init) => {
      calls++;
      if (calls === 1) throw new TypeError('fetch failed');
      return fetch(input, init);
    };
    const v = verifier({ fetch: flaky, jwksCooldownMs: 30_000 });
    const token = await mint(key, { nowMs: clock });
    await expectInvalid(v.verify(token), 'token signing keys are unavailable');
    await expectInvalid(v.verify(token), 'token signing keys are unavailable');
    expect(calls).toBe(1);
    clock += 1_001;
    await expect(v.verify(token)).resolves.toMatchObject({ subject: 'user-1' });
    expect(calls).toBe(2);
  });

  it('[MCP-RS-TOKEN-VALIDATION] the verified-token cache does not accept a token after its exp', async () => {
    const v = verifier({ clockToleranceSec: 0 });
    const token = await mint(key, { nowMs: clock }); // exp = now + 300 s
    const first = await v.verify(token);
    expect(await v.verify(token)).toBe(first); // served from the cache
    clock += 299_000;
    expect(await v.verify(token)).toBe(first);
    clock += 2_000;
    await expectInvalid(v.verify(token), 'token has expired', token);
  });

  it('the cache honours the revocation list on every hit', async () => {
    const revoked = new Set<string>();
    const v = verifier({ revocations: { isRevoked: (jti) => revoked.has(jti) } });
    const token = await mint(key, { nowMs: clock, claims: { jti: 'later-revoked' } });
    await v.verify(token);
    revoked.add('later-revoked');
    await expectInvalid(v.verify(token), 'token has been revoked');
  });

  it('re-verifies cached tokens after the key set changes (a withdrawn key stops working)', async () => {
    const v = verifier({ jwksCooldownMs: 1_000 });
    const token = await mint(key, { nowMs: clock });
    await v.verify(token);
    await v.verify(token);
    as.keys = [key2.jwk]; // key-1 withdrawn (e.g. compromised)
    clock += 2_000;
    await v.verify(await mint(key2, { nowMs: clock })); // unknown kid → refetch → new generation
    await expectInvalid(v.verify(token), 'token signing key is unknown');
  });
});
