import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { rs256AccessTokenSigner, type AccessTokenPayload } from '../src/index.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const payload: AccessTokenPayload = {
  client_id: 'client-1', scope: 'db:read db:write', role: 'developer', iss: 'https://as.example', sub: 'user-1',
  aud: 'https://mcp.example/mcp', iat: 1_800_000_000, exp: 1_800_000_600, jti: 'c6a1f1a8-7e0e-4a44-9d6f-1d7b0f6a1a2b',
};

describe('RS256 access token signer', () => {
  it('[RFC9068-JWT-AT] produces the same token as jose SignJWT for the same header and claims, and it verifies', async () => {
    const signer = rs256AccessTokenSigner('kid-1', privateKey);
    const token = signer.sign(payload);
    const viaJose = await new SignJWT({ client_id: payload.client_id, scope: payload.scope, role: payload.role })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'kid-1' })
      .setIssuer(payload.iss).setSubject(payload.sub).setAudience(payload.aud)
      .setIssuedAt(payload.iat).setExpirationTime(payload.exp).setJti(payload.jti)
      .sign(privateKey);
    expect(token).toBe(viaJose);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', typ: 'at+jwt', kid: 'kid-1' });
    const key = await importJWK(publicKey.export({ format: 'jwk' }), 'RS256');
    const { payload: verified } = await jwtVerify(token, key, {
      issuer: payload.iss, audience: payload.aud, typ: 'at+jwt', algorithms: ['RS256'], currentDate: new Date(1_800_000_100_000),
    });
    expect(verified).toEqual(payload);
  });

  it('refuses a key that is not an RSA private key, and non-integer times', () => {
    expect(() => rs256AccessTokenSigner('k', publicKey)).toThrow(TypeError);
    expect(() => rs256AccessTokenSigner('k', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)).toThrow(TypeError);
    expect(() => rs256AccessTokenSigner('k', privateKey).sign({ ...payload, exp: Number.NaN })).toThrow(TypeError);
  });
});
