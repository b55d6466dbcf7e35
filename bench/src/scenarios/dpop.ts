import { createHash, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { REDIRECT_URI, PUBLIC_CLIENT } from '../seed/auth-db.ts';
import type { Target } from '../lib/load.ts';
import { MCP_HEADERS, TOOL_CALL_BODY } from '../servers/trivial-tool.ts';

const b64u = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A client's DPoP key (ES256, the one MCP clients use, or RS256) and its RFC 7638 thumbprint. */
export interface DpopKey {
  alg: 'ES256' | 'RS256';
  privateKey: KeyObject;
  jwk: Record<string, string>;
  jkt: string;
}

export function dpopKey(alg: 'ES256' | 'RS256' = 'ES256'): DpopKey {
  const { privateKey, publicKey } = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const exported = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
  const required: Record<string, string> = alg === 'ES256' ? { crv: exported.crv!, kty: 'EC', x: exported.x!, y: exported.y! } : { e: exported.e!, kty: 'RSA', n: exported.n! };
  const jkt = createHash('sha256').update(JSON.stringify(required)).digest('base64url');
  return { alg, privateKey, jwk: required, jkt };
}

/** One RFC 9449 §4.2 proof: a fresh jti, `ath` when a token is given. */
export function dpopProof(key: DpopKey, htm: string, htu: string, accessToken?: string): string {
  const header = b64u({ typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk });
  const claims: Record<string, unknown> = { jti: randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000) };
  if (accessToken) claims.ath = createHash('sha256').update(accessToken).digest('base64url');
  const input = `${header}.${b64u(claims)}`;
  const signature = key.alg === 'ES256' ? sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' }) : sign('sha256', Buffer.from(input), key.privateKey);
  return `${input}.${signature.toString('base64url')}`;
}

/** Proofs signed ahead per second of a DPoP run: above what one core serves (a few thousand calls/s at most). */
export const PROOFS_PER_SECOND = 3000;

/**
 * tools/call of the trivial tool with a DPoP-bound token, each request with a proof never sent
 * before (the server refuses a replayed one). Proofs are signed before the measurement, `count` of
 * them, so signing costs the load generator nothing while it runs; one older than 40 s (the server
 * accepts 60) or past the pool is signed on the spot.
 */
export function dpopToolCall(url: string, key: DpopKey, accessToken: string, count: number): Target & { signedOnTheSpot: () => number } {
  const pool = Array.from({ length: count }, () => dpopProof(key, 'POST', url, accessToken));
  const madeAt = Date.now();
  let i = 0;
  let late = 0;
  return {
    url,
    headers: { ...MCP_HEADERS, authorization: `DPoP ${accessToken}` },
    next: () => {
      let proof = Date.now() - madeAt < 40_000 ? pool[i] : undefined;
      pool[i++] = '';
      if (!proof) {
        late++;
        proof = dpopProof(key, 'POST', url, accessToken);
      }
      return { body: TOOL_CALL_BODY, headers: { dpop: proof } };
    },
    signedOnTheSpot: () => late,
  };
}

/**
 * A DPoP-bound access token for `resource`: from the authorization server (a code redeemed with a
 * proof, RFC 9449 §5) when it issues `token_type: DPoP`; otherwise the claims of `bearer` (a token
 * it issued) bound to the key and signed with a bench key the MCP server then also trusts, served
 * with the authorization server's keys at `jwksUrl`. Either way the MCP server does the same work
 * per request: a cached token and one proof verification.
 */
export async function dpopAccessToken(authUrl: string, code: { code: string; verifier: string }, resource: string, key: DpopKey, bearer: string): Promise<{ token: string; from: string; jwksUrl?: string; close: () => Promise<void> }> {
  const tokenUrl = `${authUrl}/token`;
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: dpopProof(key, 'POST', tokenUrl) },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: code.code, code_verifier: code.verifier, redirect_uri: REDIRECT_URI, client_id: PUBLIC_CLIENT, resource }).toString(),
  });
  const body = (await res.json()) as { access_token?: string; token_type?: string };
  if (res.status === 200 && body.access_token && body.token_type?.toLowerCase() === 'dpop') {
    return { token: body.access_token, from: 'the authorization server (token_type DPoP)', close: async () => {} };
  }
  // The authorization server does not bind tokens: the same claims, bound and signed by a bench key.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `bench-${randomUUID()}`;
  const claims = JSON.parse(Buffer.from(bearer.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  const input = `${b64u({ alg: 'RS256', typ: 'at+jwt', kid })}.${b64u({ ...claims, jti: randomUUID(), cnf: { jkt: key.jkt } })}`;
  const token = `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
  const asKeys = ((await (await fetch(`${authUrl}/jwks`)).json()) as { keys: unknown[] }).keys;
  const jwks = JSON.stringify({ keys: [...asKeys, { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] });
  const server: Server = createServer((_req, r) => r.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' }).end(jwks));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    token,
    from: `a bench key (the authorization server answered ${res.status}${body.token_type ? ` token_type ${body.token_type}` : ''}), its keys and the bench key's at one JWKS`,
    jwksUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
