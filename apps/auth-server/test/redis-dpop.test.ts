import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import { SHARED_REDIS_URL, uniquePrefix } from '../../../packages/redis/test/redis-server.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { REDIRECT_URI, RESOURCE, addClient, addUser, issueCode, postForm } from './token-fixtures.ts';

// RFC 9449 §11.1 across instances: with REDIS_URL, a proof accepted by one instance is a replay at every other.
describe('two authorization-server instances sharing Redis: DPoP proof replay', () => {
  const ISSUER = 'http://as.example.test';
  let a: TestAuthServer;
  let b: TestAuthServer;
  beforeAll(async () => {
    // One published issuer in front of both instances (a load balancer), so one proof fits either.
    const env = { REDIS_URL: SHARED_REDIS_URL, REDIS_KEY_PREFIX: uniquePrefix('dpop-as'), AUTH_ISSUER: ISSUER };
    [a, b] = [await startAuthServer(env), await startAuthServer(env)];
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('[RFC9449-JTI-REPLAY] refuses at instance B a proof instance A accepted, with invalid_dpop_proof', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    const claims = { jti: randomUUID(), htm: 'POST', htu: `${ISSUER}/token`, iat: Math.floor(Date.now() / 1000) };
    const proof = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk }).sign(privateKey);
    const redeemAt = async (s: TestAuthServer) => {
      const client = await addClient(s);
      const code = await issueCode(s, client, await addUser(s));
      return postForm(`${s.url}/token`, {
        client_id: client.id, grant_type: 'authorization_code', code: code.code, redirect_uri: REDIRECT_URI, code_verifier: code.verifier, resource: RESOURCE,
      }, { dpop: proof });
    };
    const first = await redeemAt(a);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.token_type).toBe('DPoP');
    const replay = await redeemAt(b);
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_dpop_proof');
  });
});
