import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { accessTokenHash, sharedDpopNonces } from '@stack/oauth';
import { callTool, listTools, startMcpServer, useIssuer, type TestMcpServer } from './helpers.ts';
import { fixture, runNode, type Lines } from './upstream-helpers.ts';
import { DPOP_ALGS } from '../src/pipeline/dpop.ts';

/** A client's DPoP key: its public JWK, thumbprint (the token's cnf.jkt) and a proof maker. */
interface Holder {
  jwk: JWK;
  jkt: string;
  privateKey: CryptoKey;
}
async function holder(alg = 'ES256'): Promise<Holder> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { jwk, jkt: await calculateJwkThumbprint(jwk, 'sha256'), privateKey };
}

interface ProofClaims {
  htm?: string;
  htu: string;
  token?: string;
  ath?: string | null;
  nonce?: string;
  jti?: string;
  iat?: number;
}
/** An RFC 9449 §4.2 proof signed by `signer`, carrying `jwk` (the signer's own unless a test swaps it). */
function proof(signer: Holder, c: ProofClaims, jwk: JWK = signer.jwk): Promise<string> {
  const claims: Record<string, unknown> = { jti: c.jti ?? randomUUID(), htm: c.htm ?? 'POST', htu: c.htu, iat: c.iat ?? Math.floor(Date.now() / 1000) };
  if (c.ath !== null) claims.ath = c.ath ?? (c.token ? accessTokenHash(c.token) : undefined);
  if (c.nonce !== undefined) claims.nonce = c.nonce;
  return new SignJWT(claims).setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk }).sign(signer.privateKey);
}

const ALGS = `algs="${DPOP_ALGS.join(' ')}"`;
const KEK = Buffer.alloc(32, 9);
const toolText = (body: { result?: { content?: { text?: string }[] } }) => body.result?.content?.[0]?.text ?? '';

/**
 * RFC 9449 at the protected resources: the built-in server (dpop allowed, the default) and a
 * gateway server with `dpop: required` in front of an HTTP fixture. Requests go through app.inject,
 * so a test can send a Host other than the public URL's.
 */
describe('DPoP-bound access tokens at the MCP servers (RFC 9449 §7)', () => {
  const issuer = useIssuer();
  let dir: string;
  let stackFile: string;
  let fx: Lines;
  let s: TestMcpServer;
  let alice: Holder;
  let mallory: Holder;

  beforeAll(async () => {
    [alice, mallory] = await Promise.all([holder(), holder()]);
    dir = mkdtempSync(join(tmpdir(), 'mcp-dpop-'));
    fx = runNode([fixture('http-mcp.mjs')], 'stdout');
    const port = (JSON.parse(await fx.waitFor(/"port"/)) as { port: number }).port;
    stackFile = join(dir, 'stack.yaml');
    writeFileSync(stackFile, `
roles: [admin, developer, viewer]
scopes:
  "db:read": { description: "Read data", roles: [admin, developer, viewer] }
  "db:write": { description: "Write data", roles: [admin, developer] }
  "demo:use": { description: "Demo tools", roles: [admin, developer] }
servers:
  - name: database
    path: /mcp
    upstream: { builtin: database }
    tools:
      query: { roles: [admin, developer, viewer], scopes: ["db:read"] }
      execute_sql: { roles: [admin, developer], scopes: ["db:write"] }
  - name: strict
    path: /mcp/strict
    upstream: { url: "http://127.0.0.1:${port}/mcp" }
    auth: [oauth]
    dpop: required
    default: { roles: [admin, developer], scopes: ["demo:use"] }
`);
    s = await startMcpServer({ AUTH_ISSUER: issuer.url, STACK_FILE: stackFile }, { policy: undefined });
  });
  afterAll(async () => {
    await s?.close();
    await fx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const strictUrl = () => `${new URL(s.url).origin}/mcp/strict`;
  /** An access token for `aud` bound to `key` (cnf.jkt), as the authorization server issues for a DPoP token request. */
  const boundToken = (key: Holder | undefined, claims: Record<string, unknown> = {}, aud = s.url) =>
    issuer.sign({ aud, role: 'developer', scope: 'db:read demo:use', ...(key ? { cnf: { jkt: key.jkt } } : {}), ...claims });
  const post = async (path: string, body: unknown, headers: Record<string, string>) => {
    const res = await s.app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, payload: JSON.stringify(body) });
    return { status: res.statusCode, challenge: res.headers['www-authenticate'] as string | undefined, nonce: res.headers['dpop-nonce'] as string | undefined, json: () => res.json<{ error?: string; error_description?: string; result?: { content?: { text?: string }[] } }>() };
  };
  const dpopCall = async (path: string, token: string, dpop: string | undefined, body: unknown = callTool('query', { sql: 'select 1' })) =>
    post(path, body, { authorization: `DPoP ${token}`, ...(dpop ? { dpop } : {}) });

  it('[RFC9449-RS-PROOF] [RFC9449-JKT] [RFC9449-ATH] accepts a bound token with a proof by its key for this method and URL, on every request, and audits the binding', async () => {
    const token = await boundToken(alice);
    for (let i = 0; i < 2; i++) {
      // The second request is a fresh proof with the same key (the key cache's path).
      const res = await dpopCall('/mcp', token, await proof(alice, { htu: s.url, token }));
      expect(res.status).toBe(200);
      expect(toolText(res.json())).toBe('query ok');
    }
    expect(s.audit().at(-1)).toMatchObject({ decision: 'ALLOWED', tool: 'query', binding: 'dpop' });
  });

  it('[RFC9449-RS-PROOF] htu is the configured public URL: a request that came with another Host is accepted with a proof for the public URL, refused with one for the Host it came on', async () => {
    const token = await boundToken(alice);
    const other = 'mcp.internal:8080';
    expect((await dpopCall('/mcp', token, await proof(alice, { htu: s.url, token }))).status).toBe(200);
    const viaHost = await post('/mcp', callTool('query', { sql: 'select 1' }), { host: other, authorization: `DPoP ${token}`, dpop: await proof(alice, { htu: s.url, token }) });
    expect(viaHost.status).toBe(200);
    const forHost = await post('/mcp', callTool('query', { sql: 'select 1' }), { host: other, authorization: `DPoP ${token}`, dpop: await proof(alice, { htu: `http://${other}/mcp`, token }) });
    expect(forHost.status).toBe(401);
    expect(forHost.json()).toMatchObject({ error: 'invalid_dpop_proof', error_description: "DPoP proof 'htu' does not match the request URI" });
  });

  it('[RFC9449-JKT] [RFC9449-CHALLENGE] refuses a stolen bound token presented with a proof signed by another key (401 invalid_dpop_proof, DPoP challenge)', async () => {
    const token = await boundToken(alice);
    const res = await dpopCall('/mcp', token, await proof(mallory, { htu: s.url, token }));
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_dpop_proof', error_description: 'the DPoP proof is not signed by the key the access token is bound to' });
    expect(res.challenge).toBe(`DPoP ${ALGS}, error="invalid_dpop_proof", error_description="the DPoP proof is not signed by the key the access token is bound to", resource_metadata="${s.base}/.well-known/oauth-protected-resource/mcp"`);
    // Naming alice's key in the header does not help: the signature is checked with the key named.
    const forged = await dpopCall('/mcp', token, await proof(mallory, { htu: s.url, token }, alice.jwk));
    expect(forged.json()).toMatchObject({ error: 'invalid_dpop_proof', error_description: 'DPoP proof signature is invalid' });
    expect(s.audit().at(-1)).toMatchObject({ decision: 'AUTH_FAILED' });
  });

  it('[RFC9449-NO-BEARER-DOWNGRADE] refuses a DPoP-bound token sent as a bearer token (401 invalid_token), and the DPoP scheme with an unbound token', async () => {
    const token = await boundToken(alice);
    const res = await post('/mcp', listTools(), { authorization: `Bearer ${token}` });
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_token', error_description: 'this access token is DPoP-bound: send it with the DPoP scheme and a proof' });
    expect(res.challenge).toMatch(/^Bearer error="invalid_token", .*, DPoP algs="/);
    // Any cnf counts (fail closed), even one without a readable jkt.
    const odd = await boundToken(undefined, { cnf: { 'x5t#S256': 'abc' } });
    expect((await post('/mcp', listTools(), { authorization: `Bearer ${odd}` })).status).toBe(401);

    const unbound = await boundToken(undefined);
    const asDpop = await dpopCall('/mcp', unbound, await proof(alice, { htu: s.url, token: unbound }));
    expect(asDpop.status).toBe(401);
    expect(asDpop.json()).toMatchObject({ error: 'invalid_token', error_description: 'the DPoP scheme needs a DPoP-bound access token' });
    expect(asDpop.challenge).toMatch(/^DPoP algs="[^"]+", error="invalid_token"/);
    // The same unbound token is fine as a bearer token where DPoP is allowed.
    expect((await post('/mcp', listTools(), { authorization: `Bearer ${unbound}` })).status).toBe(200);
  });

  it('[RFC9449-PROOF-REQUEST] [RFC9449-CHALLENGE] refuses a proof for another URL or another method with 401 invalid_dpop_proof', async () => {
    const token = await boundToken(alice);
    const cases: [ProofClaims, string][] = [
      [{ htu: strictUrl(), token }, "DPoP proof 'htu' does not match the request URI"],
      [{ htu: `${s.url}/other`, token }, "DPoP proof 'htu' does not match the request URI"],
      [{ htu: s.url, htm: 'GET', token }, "DPoP proof 'htm' does not match the request method"],
      [{ htu: s.url, token, iat: Math.floor(Date.now() / 1000) - 3600 }, 'DPoP proof is too old'],
    ];
    for (const [claims, description] of cases) {
      const res = await dpopCall('/mcp', token, await proof(alice, claims));
      expect(res.status, description).toBe(401);
      expect(res.json()).toEqual({ error: 'invalid_dpop_proof', error_description: description });
      expect(res.challenge).toMatch(/^DPoP algs="[^"]+", error="invalid_dpop_proof"/);
    }
    const none = await dpopCall('/mcp', token, undefined);
    expect(none.json()).toEqual({ error: 'invalid_dpop_proof', error_description: 'missing DPoP proof' });
  });

  it('[RFC9449-JTI-REPLAY] refuses a replayed proof (401 invalid_dpop_proof)', async () => {
    const token = await boundToken(alice);
    const p = await proof(alice, { htu: s.url, token });
    expect((await dpopCall('/mcp', token, p)).status).toBe(200);
    const again = await dpopCall('/mcp', token, p);
    expect(again.status).toBe(401);
    expect(again.json()).toEqual({ error: 'invalid_dpop_proof', error_description: 'DPoP proof has already been used' });
  });

  it('[RFC9449-ATH] refuses a proof without ath or with the hash of another token', async () => {
    const token = await boundToken(alice);
    const otherToken = await boundToken(alice);
    const missing = await dpopCall('/mcp', token, await proof(alice, { htu: s.url, ath: null }));
    expect(missing.status).toBe(401);
    expect(missing.json()).toEqual({ error: 'invalid_dpop_proof', error_description: "DPoP proof has no 'ath' for the access token" });
    const wrong = await dpopCall('/mcp', token, await proof(alice, { htu: s.url, token: otherToken }));
    expect(wrong.status).toBe(401);
    expect(wrong.json()).toEqual({ error: 'invalid_dpop_proof', error_description: "DPoP proof 'ath' does not match the access token" });
  });

  it('[RFC9449-CHALLENGE] [MCP-RS-SCOPE-CHALLENGE] asks for a step-up in the DPoP scheme when the token came with it (403 insufficient_scope)', async () => {
    const token = await boundToken(alice);
    const res = await dpopCall('/mcp', token, await proof(alice, { htu: s.url, token }), callTool('execute_sql', { sql: 'insert into t values (1)' }));
    expect(res.status).toBe(403);
    expect(res.challenge).toMatch(/^DPoP algs="[^"]+", error="insufficient_scope", /);
    expect(res.challenge).toContain('scope="db:write"');
  });

  it('[RFC9449-RS-REQUIRED] [RFC9449-RS-METADATA] a dpop: required server refuses a bearer token with a DPoP challenge, takes a DPoP one, and says so in its metadata', async () => {
    const prm = `resource_metadata="${s.base}/.well-known/oauth-protected-resource/mcp/strict"`;
    const bearerToken = await boundToken(undefined, {}, strictUrl());
    const refused = await post('/mcp/strict', callTool('echo', { message: 'hi' }), { authorization: `Bearer ${bearerToken}` });
    expect(refused.status).toBe(401);
    expect(refused.challenge).toBe(`DPoP ${ALGS}, error="invalid_token", error_description="this server accepts only DPoP-bound access tokens, sent with the DPoP scheme and a proof", ${prm}`);
    const anonymous = await post('/mcp/strict', listTools(), {});
    expect(anonymous.challenge).toBe(`DPoP ${ALGS}, ${prm}, scope="demo:use"`);

    const token = await boundToken(alice, {}, strictUrl());
    const ok = await dpopCall('/mcp/strict', token, await proof(alice, { htu: strictUrl(), token }), callTool('echo', { message: 'hi' }));
    expect(ok.status).toBe(200);
    expect(toolText(ok.json())).toBe('hi');
    expect(s.audit().at(-1)).toMatchObject({ decision: 'ALLOWED', server: 'strict', binding: 'dpop' });
    // A proof made for the built-in server's URL does not open this one.
    const elsewhere = await dpopCall('/mcp/strict', token, await proof(alice, { htu: s.url, token }), listTools());
    expect(elsewhere.json()).toMatchObject({ error: 'invalid_dpop_proof' });

    const meta = async (path: string) => (await s.app.inject({ method: 'GET', url: `/.well-known/oauth-protected-resource${path}` })).json<Record<string, unknown>>();
    expect(await meta('/mcp/strict')).toMatchObject({ dpop_signing_alg_values_supported: [...DPOP_ALGS], dpop_bound_access_tokens_required: true });
    expect(await meta('/mcp')).toMatchObject({ dpop_signing_alg_values_supported: [...DPOP_ALGS], dpop_bound_access_tokens_required: false });
  });
});

describe('DPoP server nonces at the MCP server (RFC 9449 §9, MCP_DPOP_NONCE=on)', () => {
  const issuer = useIssuer();
  let s: TestMcpServer;
  let alice: Holder;
  beforeAll(async () => {
    alice = await holder();
    s = await startMcpServer({ AUTH_ISSUER: issuer.url, MCP_DPOP_NONCE: 'on', KEY_ENCRYPTION_KEY: KEK.toString('base64'), MCP_ALLOWED_ORIGINS: 'https://app.example' });
  });
  afterAll(async () => { await s?.close(); });

  it('[RFC9449-RS-NONCE] [RFC9449-NONCE] answers a proof without a nonce with 401 use_dpop_nonce and a DPoP-Nonce header, accepts the retry with it and sends the nonce on the answer', async () => {
    const token = await issuer.sign({ aud: s.url, cnf: { jkt: alice.jkt } });
    const send = async (dpop: string) => s.app.inject({
      method: 'POST', url: '/mcp', payload: JSON.stringify(listTools()),
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', origin: 'https://app.example', authorization: `DPoP ${token}`, dpop },
    });
    const first = await send(await proof(alice, { htu: s.url, token }));
    expect(first.statusCode).toBe(401);
    // What the official SDK client looks for before it retries: 401, the DPoP scheme, use_dpop_nonce and the header.
    const www = String(first.headers['www-authenticate']);
    expect(www).toMatch(/^DPoP algs="[^"]+", error="use_dpop_nonce"/);
    const nonce = first.headers['dpop-nonce'];
    expect(typeof nonce).toBe('string');
    expect(String(first.headers['access-control-expose-headers'])).toContain('DPoP-Nonce');

    const wrong = await send(await proof(alice, { htu: s.url, token, nonce: 'not-the-nonce' }));
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ error: 'use_dpop_nonce' });

    // The authorization server's nonces (DPOP_NONCE=on with the same key) are these same values: a
    // client keeping one nonce per origin may use either's.
    expect(sharedDpopNonces(KEK, Date.now).isValid(nonce as string)).toBe(true);

    const retry = await send(await proof(alice, { htu: s.url, token, nonce: nonce as string }));
    expect(retry.statusCode).toBe(200);
    expect(retry.headers['www-authenticate']).toBeUndefined();
    // Every DPoP answer carries the current nonce (RFC 9449 §8.2), so the client keeps up with rotation.
    expect(retry.headers['dpop-nonce']).toBe(nonce);
  });
});
