import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export const ISSUER = 'http://127.0.0.1:4000';
export const RESOURCE = 'http://127.0.0.1:4001/mcp';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

export async function makeKey(kid: string = randomUUID()): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicKey, jwk };
}

/**
 * A stand-in for the authorization server: GET /jwks and GET /revocations?since=ms over real
 * HTTP on 127.0.0.1. Tests change `keys` and `revoked` and count the requests.
 */
export class FakeAuthServer {
  keys: JWK[] = [];
  revoked: Array<{ jti: string; expiresAt: number; revokedAt: number }> = [];
  jwksRequests = 0;
  revocationQueries: number[] = [];
  failRevocations = false;
  #server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/jwks') {
        this.jwksRequests++;
        res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: this.keys }));
        return;
      }
      if (u.pathname === '/revocations') {
        const since = Number(u.searchParams.get('since'));
        this.revocationQueries.push(since);
        if (this.failRevocations) return void res.writeHead(500).end('{}');
        const revoked = this.revoked.filter((r) => r.revokedAt >= since).map(({ jti, expiresAt }) => ({ jti, expiresAt }));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ revoked }));
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    if (!s) return;
    this.#server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

export interface MintOptions {
  header?: Record<string, unknown>;
  /** Claims merged over the defaults; a value of undefined removes the claim. */
  claims?: Record<string, unknown>;
  nowMs: number;
}

/** Signs an access token shaped like the auth server's (RFC 9068), with overrides for the failure cases. */
export async function mint(key: SigningKey, o: MintOptions): Promise<string> {
  const iat = Math.floor(o.nowMs / 1000);
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    aud: RESOURCE,
    sub: 'user-1',
    client_id: 'client-1',
    jti: randomUUID(),
    scope: 'db:read db:write',
    role: 'developer',
    iat,
    exp: iat + 300,
    ...o.claims,
  };
  for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
  const header = { alg: 'RS256', typ: 'at+jwt', kid: key.kid, ...o.header };
  for (const k of Object.keys(header)) if ((header as Record<string, unknown>)[k] === undefined) delete (header as Record<string, unknown>)[k];
  return new SignJWT(claims).setProtectedHeader(header).sign(key.privateKey);
}

export const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
