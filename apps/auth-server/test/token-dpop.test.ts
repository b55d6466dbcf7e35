import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CompactSign, calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { tokenHash } from '@stack/crypto';
import { sharedDpopNonces } from '@stack/oauth';
import type { TestAuthServer } from './helpers.ts';
import {
  REDIRECT_URI, RESOURCE, addClient, issueCode, pkce, postForm, useTokenServer, withClientAuth, type FormResponse, type IssuedCode, type TestClient,
} from './token-fixtures.ts';
import { Browser, authorizeUrl, decide, reachConsent } from './authorize-flow.ts';
import { createAuthorizationCode } from '../src/services/codes.ts';
import type { UserRecord } from '../src/services/users.ts';

// DPoP at the token endpoint (RFC 9449 §5, §8, §10). Runs on SQLite and, in the auth-postgres
// project, on PostgreSQL (the refresh-token and code bindings are stored columns).

interface DpopKey {
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
  jkt: string;
}

async function dpopKey(alg = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { alg, privateKey, jwk, jkt: await calculateJwkThumbprint(jwk, 'sha256') };
}

/** A proof by `key` for POST at `htu` (iat from the server's clock), overridable claim by claim. */
function proof(key: DpopKey, htu: string, iatMs: number, claims: Record<string, unknown> = {}): Promise<string> {
  const payload = { jti: randomUUID(), htm: 'POST', htu, iat: Math.floor(iatMs / 1000), ...claims };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk })
    .sign(key.privateKey);
}

/** The form of a code redemption (the client's credentials are added per client). */
const codeParams = (c: IssuedCode): Record<string, string> =>
  ({ grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT_URI, code_verifier: c.verifier, resource: RESOURCE });

/** The claims of a JWT (decoded without verification; the signing is tested elsewhere). */
const claimsOf = (jwt: unknown) => JSON.parse(Buffer.from(String(jwt).split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

describe('token endpoint: DPoP (RFC 9449)', () => {
  let s: TestAuthServer;
  let client: TestClient;
  let user: UserRecord;
  const { clock } = useTokenServer((t) => ({ s, client, user } = t));

  const tokenUrl = () => `${s.url}/token`;
  /** A token request by `c`, with `dpop` as its DPoP header when given. */
  const post = (c: TestClient, params: Record<string, string>, dpop?: string): Promise<FormResponse> => {
    const r = withClientAuth(c, params, dpop === undefined ? {} : { dpop });
    return postForm(tokenUrl(), r.params, r.headers);
  };
  const redeemWith = async (c: TestClient, code: IssuedCode, key?: DpopKey) =>
    post(c, codeParams(code), key ? await proof(key, tokenUrl(), clock.now()) : undefined);
  const refreshWith = async (c: TestClient, token: unknown, key?: DpopKey) =>
    post(c, { grant_type: 'refresh_token', refresh_token: String(token), resource: RESOURCE }, key ? await proof(key, tokenUrl(), clock.now()) : undefined);
  const refreshRow = (token: unknown) => s.app.ctx.store.tokens.findRefreshByHash(tokenHash(String(token)));

  it('[RFC9449-TOKEN-TYPE] [RFC9449-JKT] issues a DPoP token bound to the proof key: token_type DPoP and cnf.jkt = its RFC 7638 thumbprint', async () => {
    const key = await dpopKey();
    const r = await redeemWith(client, await issueCode(s, client, user), key);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.token_type).toBe('DPoP');
    expect(claimsOf(r.body.access_token).cnf).toEqual({ jkt: key.jkt });
    // A public client's refresh token is bound to the same key (RFC 9449 §5).
    expect((await refreshRow(r.body.refresh_token))!.dpopJkt).toBe(key.jkt);
    expect(s.auditEvents().find((e) => e.event === 'token.issued')).toMatchObject({ jkt: key.jkt });
    // No nonce unless DPOP_NONCE=on.
    expect(r.headers.get('dpop-nonce')).toBeNull();
  });

  it('[RFC9449-TOKEN-TYPE] answers a request without a DPoP header exactly as before: a Bearer token with no cnf, an unbound refresh token', async () => {
    const r = await redeemWith(client, await issueCode(s, client, user));
    expect(r.status).toBe(200);
    expect(r.body.token_type).toBe('Bearer');
    expect(claimsOf(r.body.access_token)).not.toHaveProperty('cnf');
    expect((await refreshRow(r.body.refresh_token))!.dpopJkt).toBeNull();
    const next = await refreshWith(client, r.body.refresh_token);
    expect(next.status).toBe(200);
    expect(next.body.token_type).toBe('Bearer');
  });

  it('[RFC9449-REFRESH-BINDING] refreshes a bound refresh token only with a proof by its key; another key or none is invalid_grant and revokes nothing', async () => {
    const key = await dpopKey();
    const first = await redeemWith(client, await issueCode(s, client, user), key);
    expect(first.status).toBe(200);

    const noProof = await refreshWith(client, first.body.refresh_token);
    expect(noProof.status).toBe(400);
    expect(noProof.body.error).toBe('invalid_grant');
    const otherKey = await refreshWith(client, first.body.refresh_token, await dpopKey());
    expect(otherKey.status).toBe(400);
    expect(otherKey.body.error).toBe('invalid_grant');
    // Nothing was rotated or revoked by the refusals: the holder of the key refreshes.
    const ok = await refreshWith(client, first.body.refresh_token, key);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.token_type).toBe('DPoP');
    expect(claimsOf(ok.body.access_token).cnf).toEqual({ jkt: key.jkt });
    expect((await refreshRow(ok.body.refresh_token))!.dpopJkt).toBe(key.jkt);
    // The successor is bound too.
    expect((await refreshWith(client, ok.body.refresh_token)).body.error).toBe('invalid_grant');
    expect((await refreshWith(client, ok.body.refresh_token, key)).status).toBe(200);
  });

  it('[RFC9449-REFRESH-BINDING] hands the grace-window successor of a bound token only to the same key', async () => {
    const key = await dpopKey();
    const first = await redeemWith(client, await issueCode(s, client, user), key);
    const rotated = await refreshWith(client, first.body.refresh_token, key);
    expect(rotated.status).toBe(200);
    // The old token presented again within the grace window: same key gets the same pair; another key nothing.
    expect((await refreshWith(client, first.body.refresh_token, await dpopKey())).body.error).toBe('invalid_grant');
    const again = await refreshWith(client, first.body.refresh_token, key);
    expect(again.status).toBe(200);
    expect(again.body.refresh_token).toBe(rotated.body.refresh_token);
  });

  it('[RFC9449-REFRESH-BINDING] [RFC9449-INTROSPECTION] does not bind a confidential client\'s refresh token, but its access tokens are DPoP-bound whenever it sends a proof', async () => {
    const confidential = await addClient(s, { method: 'client_secret_basic' });
    const key = await dpopKey();
    const r = await redeemWith(confidential, await issueCode(s, confidential, user), key);
    expect(r.status).toBe(200);
    expect(r.body.token_type).toBe('DPoP');
    expect((await refreshRow(r.body.refresh_token))!.dpopJkt).toBeNull();
    // [RFC9449-INTROSPECTION] introspection tells a resource server the key.
    const seen = await postForm(`${s.url}/introspect`, { token: String(r.body.access_token) }, withClientAuth(confidential, {}).headers);
    expect(seen.body).toMatchObject({ active: true, cnf: { jkt: key.jkt } });
    const bearer = await refreshWith(confidential, r.body.refresh_token);
    expect(bearer.status).toBe(200);
    expect(bearer.body.token_type).toBe('Bearer');
  });

  it('[RFC9449-REFRESH-BINDING] binds an unbound public refresh token\'s successor to the key of the proof that refreshed it', async () => {
    const first = await redeemWith(client, await issueCode(s, client, user));
    const key = await dpopKey();
    const r = await refreshWith(client, first.body.refresh_token, key);
    expect(r.status).toBe(200);
    expect(r.body.token_type).toBe('DPoP');
    expect((await refreshRow(r.body.refresh_token))!.dpopJkt).toBe(key.jkt);
  });

  it('[RFC9449-JTI-REPLAY] refuses a replayed proof with invalid_dpop_proof', async () => {
    const key = await dpopKey();
    const p = await proof(key, tokenUrl(), clock.now());
    const first = await post(client, {
      grant_type: 'authorization_code', code: (await issueCode(s, client, user)).code, redirect_uri: REDIRECT_URI, code_verifier: 'x'.repeat(43), resource: RESOURCE,
    }, p);
    // The proof was accepted (the grant then failed on PKCE); the same proof again is a replay.
    expect(first.body.error).toBe('invalid_grant');
    const code = await issueCode(s, client, user);
    const replay = await post(client, codeParams(code), p);
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_dpop_proof');
    expect(String(replay.body.error_description)).toMatch(/already been used/);
    // The code was not consumed by the refused request.
    expect((await redeemWith(client, code, key)).status).toBe(200);
  });

  it('[RFC9449-PROOF-REQUEST] refuses a proof for another URL or another method with invalid_dpop_proof, before the grant is touched', async () => {
    const key = await dpopKey();
    const code = await issueCode(s, client, user);
    const params = codeParams(code);
    for (const p of [
      await proof(key, `${s.url}/revoke`, clock.now()),
      await proof(key, 'https://elsewhere.example/token', clock.now()),
      await proof(key, tokenUrl(), clock.now(), { htm: 'GET' }),
      await proof(key, tokenUrl(), clock.now() - 10 * 60_000),
    ]) {
      const r = await post(client, params, p);
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('invalid_dpop_proof');
      expect(r.headers.get('cache-control')).toBe('no-store');
    }
    expect((await redeemWith(client, code, key)).status).toBe(200);
  });

  it('[RFC9449-PROOF-SYNTAX] refuses two DPoP headers, and an empty one, with invalid_dpop_proof', async () => {
    const key = await dpopKey();
    const code = await issueCode(s, client, user);
    const payload = new URLSearchParams({ client_id: client.id, ...codeParams(code) }).toString();
    const two = await s.app.inject({
      method: 'POST', url: '/token', payload,
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: [await proof(key, tokenUrl(), clock.now()), await proof(key, tokenUrl(), clock.now())] },
    });
    expect(two.statusCode).toBe(400);
    expect(two.json().error).toBe('invalid_dpop_proof');
    const empty = await s.app.inject({ method: 'POST', url: '/token', payload, headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: '' } });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error).toBe('invalid_dpop_proof');
  });

  it('[RFC9449-NONCE] lets browser-based clients send DPoP to /token and read DPoP-Nonce (CORS)', async () => {
    const pre = await fetch(tokenUrl(), {
      method: 'OPTIONS', headers: { origin: 'http://localhost:6274', 'access-control-request-method': 'POST', 'access-control-request-headers': 'dpop, content-type' },
    });
    expect(pre.headers.get('access-control-allow-headers')?.split(', ')).toContain('dpop');
    const r = await redeemWith(client, await issueCode(s, client, user), await dpopKey());
    expect(r.headers.get('access-control-expose-headers')?.toLowerCase()).toContain('dpop-nonce');
  });

  it('[RFC9449-AS-METADATA] lists dpop_signing_alg_values_supported (asymmetric algorithms only) in the metadata', async () => {
    const meta = (await (await fetch(`${s.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(meta.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'RS256']));
    expect(meta.dpop_signing_alg_values_supported).not.toContain('none');
    expect((meta.dpop_signing_alg_values_supported as string[]).some((a) => a.startsWith('HS'))).toBe(false);
  });

  it('[RFC9449-PROOF-SYNTAX] never answers a seeded set of malformed DPoP headers with a 5xx: each is 400 invalid_dpop_proof', async () => {
    const key = await dpopKey();
    const good = await proof(key, tokenUrl(), clock.now());
    const [h, p, sig] = good.split('.') as [string, string, string];
    const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
    // mulberry32: the same sequence on every run, so a failure is reproducible.
    let seed = 0x9449;
    const rand = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const junk = () => pick([
      '', 'null', '[]', '{}', '1e999', '"x"', '{"typ":"dpop+jwt"}', '{"alg":"none"}', '\u0000', 'é', '{"jwk":{"kty":"EC","crv":"P-256","x":"","y":""}}',
      '{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"}}', '{"typ":"dpop+jwt","alg":"HS256","jwk":{"kty":"oct","k":"AA"}}',
      '{"jti":1,"htm":"POST","htu":"x","iat":"now"}', '{"jti":"a","htm":"POST","htu":"' + tokenUrl() + '","iat":1e308}',
    ]);
    const mutations: (() => string)[] = [
      () => `${b64(junk())}.${p}.${sig}`,
      () => `${h}.${b64(junk())}.${sig}`,
      () => `${h}.${p}.${b64(randomBytes(Math.floor(rand() * 80)).toString('latin1'))}`,
      () => good.slice(0, Math.floor(rand() * good.length)),
      () => good.split('').map((c) => (rand() < 0.02 ? pick(['A', '-', '_', '.', '=', ' ', ',']) : c)).join(''),
      () => `${good},${good}`,
      () => 'a'.repeat(Math.floor(rand() * 9000)),
      () => `${h}.${p}`,
      () => `${h}..${sig}`,
      () => `Bearer ${good}`,
    ];
    const code = await issueCode(s, client, user);
    const params = codeParams(code);
    const seen = new Set<string>();
    for (let i = 0; i < 120; i++) {
      const header = pick(mutations)();
      if (header === good || seen.has(header)) continue;
      seen.add(header);
      const r = await s.app.inject({
        method: 'POST', url: '/token', payload: new URLSearchParams({ client_id: client.id, ...params }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: header },
      });
      expect(r.statusCode, `header ${JSON.stringify(header.slice(0, 120))}: ${r.body}`).toBe(400);
      expect(r.json().error).toBe('invalid_dpop_proof');
    }
    expect(seen.size).toBeGreaterThan(60);
    // None of them consumed the code.
    expect((await redeemWith(client, code, key)).status).toBe(200);
  });
});

describe('token endpoint: DPoP nonces (RFC 9449 §8, DPOP_NONCE=on)', () => {
  let s: TestAuthServer;
  let client: TestClient;
  let user: UserRecord;
  const kek = randomBytes(32);
  const { clock } = useTokenServer((t) => ({ s, client, user } = t), { DPOP_NONCE: 'on', KEY_ENCRYPTION_KEY: kek.toString('base64') });

  it('[RFC9449-NONCE] asks for a nonce with use_dpop_nonce and a DPoP-Nonce header, then accepts the proof carrying it, and sends a fresh nonce with the tokens', async () => {
    const key = await dpopKey();
    const code = await issueCode(s, client, user);
    const params = { client_id: client.id, ...codeParams(code) };
    const url = `${s.url}/token`;
    const first = await postForm(url, params, { dpop: await proof(key, url, clock.now()) });
    expect(first.status).toBe(400);
    expect(first.body.error).toBe('use_dpop_nonce');
    const nonce = first.headers.get('dpop-nonce');
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // A made-up nonce is no better than none.
    const wrong = await postForm(url, params, { dpop: await proof(key, url, clock.now(), { nonce: 'made-up' }) });
    expect(wrong.body.error).toBe('use_dpop_nonce');

    const second = await postForm(url, params, { dpop: await proof(key, url, clock.now(), { nonce }) });
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(second.body.token_type).toBe('DPoP');
    expect(second.headers.get('dpop-nonce')).toBe(nonce);
    // The nonce is the one every app with the same KEY_ENCRYPTION_KEY computes (the MCP app on this origin).
    expect(nonce).toBe(sharedDpopNonces(kek, clock.now).current());
  });

  it('[RFC9449-NONCE] keeps accepting the previous window\'s nonce after a rotation, and asks again once it is two windows old', async () => {
    const key = await dpopKey();
    const url = `${s.url}/token`;
    const nonce = sharedDpopNonces(kek, clock.now).current();
    const redeemOnce = async () => {
      const code = await issueCode(s, client, user);
      const params = { client_id: client.id, ...codeParams(code) };
      return postForm(url, params, { dpop: await proof(key, url, clock.now(), { nonce }) });
    };
    clock.advance(300_000);
    expect((await redeemOnce()).status).toBe(200);
    clock.advance(300_000);
    const stale = await redeemOnce();
    expect(stale.body.error).toBe('use_dpop_nonce');
    expect(stale.headers.get('dpop-nonce')).not.toBe(nonce);
  });

  it('[RFC9449-NONCE] leaves bearer token requests alone: no DPoP header, no nonce asked', async () => {
    const code = await issueCode(s, client, user);
    const r = await postForm(`${s.url}/token`, { client_id: client.id, ...codeParams(code) });
    expect(r.status).toBe(200);
    expect(r.body.token_type).toBe('Bearer');
  });
});

describe('authorization code bound by dpop_jkt (RFC 9449 §10)', () => {
  let s: TestAuthServer;
  let client: TestClient;
  let user: UserRecord;
  const { clock } = useTokenServer((t) => ({ s, client, user } = t));

  it('[RFC9449-CODE-BINDING] binds the code to dpop_jkt from /authorize: the token request needs a proof by that key', async () => {
    const key = await dpopKey();
    const { verifier, challenge } = pkce();
    const b = new Browser(s.url);
    const url = authorizeUrl(s, {
      response_type: 'code', client_id: client.id, redirect_uri: REDIRECT_URI, code_challenge: challenge, code_challenge_method: 'S256',
      resource: RESOURCE, scope: 'db:read', state: 'st', dpop_jkt: key.jkt,
    });
    const { html } = await reachConsent(b, url, user.email);
    const code = new URL((await decide(b, html, 'allow')).headers.get('location')!).searchParams.get('code')!;
    const tokenUrl = `${s.url}/token`;
    const params = { client_id: client.id, grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier, resource: RESOURCE };
    const none = await postForm(tokenUrl, params);
    expect(none.body.error).toBe('invalid_grant');
    const other = await postForm(tokenUrl, params, { dpop: await proof(await dpopKey(), tokenUrl, clock.now()) });
    expect(other.body.error).toBe('invalid_grant');
    const ok = await postForm(tokenUrl, params, { dpop: await proof(key, tokenUrl, clock.now()) });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(claimsOf(ok.body.access_token).cnf).toEqual({ jkt: key.jkt });
  });

  it('[RFC9449-CODE-BINDING] refuses a dpop_jkt that is not a SHA-256 thumbprint (invalid_request to the redirect URI)', async () => {
    const b = new Browser(s.url);
    const res = await b.get(authorizeUrl(s, {
      response_type: 'code', client_id: client.id, redirect_uri: REDIRECT_URI, code_challenge: pkce().challenge, code_challenge_method: 'S256',
      resource: RESOURCE, scope: 'db:read', dpop_jkt: 'not a thumbprint',
    }));
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    expect(location.searchParams.get('error')).toBe('invalid_request');
  });

  it('[RFC9449-CODE-BINDING] stores the binding with the code', async () => {
    const key = await dpopKey();
    const code = await createAuthorizationCode(s.app.ctx, {
      clientId: client.id, userId: user.id, redirectUri: REDIRECT_URI, codeChallenge: pkce().challenge, resource: RESOURCE, scope: 'db:read', dpopJkt: key.jkt,
    });
    expect((await s.app.ctx.store.codes.findByHash(tokenHash(code)))!.dpopJkt).toBe(key.jkt);
  });
});
