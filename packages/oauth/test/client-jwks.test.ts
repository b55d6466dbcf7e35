import { beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { clientAssertionKeys, invalidClient, memoryAssertionReplayStore, OAuthError, parseClientJwks, verifyClientAssertion } from '../src/index.ts';
import { NOW, NOW_MS, sign, testKey, type TestKey } from './jwt-fixtures.ts';

let es: TestKey;
let rsa: TestKey;
let ed: TestKey;
let privateEs: JWK;
let shortRsa: JWK;

beforeAll(async () => {
  [es, rsa, ed] = await Promise.all([testKey('ES256'), testKey('RS256'), testKey('EdDSA')]);
  privateEs = await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey);
  shortRsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
});

const refused = (value: unknown, d: RegExp) => {
  let err: unknown;
  try {
    parseClientJwks(value);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(OAuthError);
  expect(err).toMatchObject({ code: 'invalid_client_metadata', status: 400 });
  expect((err as OAuthError).description).toMatch(d);
};

describe('parseClientJwks', () => {
  it('[RFC7591-JWKS-PUBLIC] keeps public RSA, EC and Ed25519 signing keys (only their public members) and they verify a client assertion', async () => {
    const set = parseClientJwks({ keys: [{ ...es.publicJwk, ext: true, x5c: ['…'] }, rsa.publicJwk, ed.publicJwk] });
    expect(set.keys).toHaveLength(3);
    expect(Object.keys(set.keys[0]!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    const token = await sign(es, { iss: 'c', sub: 'c', aud: 'https://as.example', iat: NOW, exp: NOW + 60, jti: 'j' });
    await expect(
      verifyClientAssertion(token, { clientId: 'c', keys: clientAssertionKeys(set), audiences: ['https://as.example'], now: NOW_MS }, memoryAssertionReplayStore()),
    ).resolves.toMatchObject({ clientId: 'c' });
  });

  it('[RFC7591-JWKS-PUBLIC] refuses private or symmetric keys, encryption keys, short RSA keys, unknown curves and malformed sets', () => {
    refused({ keys: [privateEs] }, /private or symmetric/);
    refused({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }, /private or symmetric/);
    refused({ keys: [{ ...rsa.publicJwk, use: 'enc' }] }, /not a signing key/);
    refused({ keys: [{ ...rsa.publicJwk, key_ops: ['encrypt'] }] }, /not a verification key/);
    refused({ keys: [shortRsa] }, /shorter than 2048 bits/);
    refused({ keys: [{ ...es.publicJwk, crv: 'secp256k1' }] }, /unsupported curve/);
    refused({ keys: [{ ...es.publicJwk, y: undefined }] }, /incomplete EC key/);
    refused({ keys: [es.publicJwk, { ...rsa.publicJwk, kid: es.kid }] }, /repeats a 'kid'/);
    refused({ keys: [] }, /between 1 and 10/);
    refused({ keys: Array.from({ length: 11 }, () => es.publicJwk) }, /between 1 and 10/);
    refused({ keys: [{ ...es.publicJwk, pad: 'x'.repeat(40_000) }] }, /at most 32 KB/);
    refused({}, /'keys' array/);
    refused('x', /'keys' array/);
    refused({ keys: [null] }, /not an object/);
    refused({ keys: [{ ...es.publicJwk, x: 'not base64 !!' }] }, /incomplete EC key/);
    refused({ keys: [{ ...rsa.publicJwk, n: 42 }] }, /incomplete RSA key/);
  });

  it('[RFC7591-JWKS-PUBLIC] a fetched jwks_uri document can be checked with invalid_client instead', () => {
    expect(() => parseClientJwks({ keys: [privateEs] }, invalidClient)).toThrow(expect.objectContaining({ code: 'invalid_client', status: 401 }));
  });
});
